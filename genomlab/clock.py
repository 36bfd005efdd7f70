"""The one clock genomlab reads: the system's UTC time unless a caller injects another.

Every "now" in the package (event times, project-id years, entitlement checks, release dates,
report schedules) comes from :func:`now`. Code that can take a clock explicitly still does
(``Ledger(clock=...)``, ``Workflow(config, clock=...)``); :func:`use_clock` covers the rest --
a CLI invocation, the demo, a notebook -- without threading a parameter through every call.

The clock lives in a :class:`contextvars.ContextVar`, so an injected clock is scoped to the
``with`` block (and the thread or task) that set it and can never leak into another request.

Examples
--------
>>> from datetime import UTC, datetime
>>> fixed = datetime(2031, 5, 4, 12, 0, tzinfo=UTC)
>>> with use_clock(lambda: fixed):
...     now().year, today().isoformat()
(2031, '2031-05-04')
>>> now() != fixed
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from time import monotonic

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The machine's time in UTC."""
    return datetime.now(UTC)


def ticking_from(start: datetime) -> Clock:
    """A clock that starts at ``start`` and runs at the machine's pace (for tests and replays).

    >>> from datetime import UTC, datetime
    >>> start = datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC)
    >>> tick = ticking_from(start)
    >>> first, second = tick(), tick()
    >>> start <= first <= second < start + timedelta(minutes=1)
    True
    """
    started = monotonic()
    return lambda: start + timedelta(seconds=monotonic() - started)


_CLOCK: ContextVar[Clock] = ContextVar("genomlab_clock", default=system_clock)


def now() -> datetime:
    """The current time (timezone-aware, UTC) of the clock in force."""
    return _CLOCK.get()().astimezone(UTC)


def today() -> date:
    """The current UTC date of the clock in force."""
    return now().date()


def get_clock() -> Clock:
    """The clock in force (for code that hands a clock on, e.g. to a :class:`Ledger`)."""
    return _CLOCK.get()


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    """Make ``clock`` the clock of every :func:`now` inside the block."""
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)
