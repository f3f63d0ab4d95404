"""Hosts: the transport interface, this machine, and the host agent."""
