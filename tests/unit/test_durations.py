"""The one duration parser: seconds, units, and Slurm's clock forms."""

from __future__ import annotations

import pytest

from meshq.durations import format_seconds, parse
from meshq.errors import UsageError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90),
        ("2.5", 2.5),
        ("90s", 90),
        ("30m", 1800),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1h 30m", 5400),
        ("1.5h", 5400),
        ("2d", 172800),
        ("1d12h", 129600),
        ("2d3h4m5s", 183845),
        ("1H30M", 5400),
        ("01:00:00", 3600),
        ("1:30", 90),
        ("90:00", 5400),
        ("36:00:00", 129600),
        ("1-00:00:00", 86400),
        ("2-12", 216000),
        ("1-2:30", 95400),
        ("0", 0),
        (" 45 ", 45),
        (3600, 3600),
        (2.5, 2.5),
    ],
)
def test_accepted_forms(text: str | float, seconds: float) -> None:
    assert parse(text) == seconds


@pytest.mark.parametrize(
    "text",
    ["", "abc", "1x", "-5", "nan", "inf", "1e3", "1h1d", "m", ":", "1:2:3:4", "1-", "1:60",
     "1:00:60", "1-24:00", "9" * 400, "1,5h"],
)
def test_refused_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text, "--timeout")
    message = str(err.value)
    assert "--timeout" in message and "\n" not in message and len(message) < 200


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.25, "0.2s"), (9.9, "9.9s"), (10, "10s"), (61, "1m01s"), (3600, "1h00m"),
     (3725, "1h02m"), (90061, "1d01h")],
)
def test_format_seconds(seconds: float, shown: str) -> None:
    assert format_seconds(seconds) == shown


def test_what_format_prints_parses_back_close_enough() -> None:
    for seconds in (12, 75, 3725, 90061):
        assert abs(parse(format_seconds(seconds)) - seconds) <= 3600
