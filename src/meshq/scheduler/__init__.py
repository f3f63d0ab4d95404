"""Schedulers: the run loop (:mod:`.engine`) and host policies (:mod:`.policies`)."""
