"""Working days in France: the city promises to validate an account within 2 working days.

Weekends and French public holidays (from the ``holidays`` package; optionally a subdivision such as
Alsace-Moselle's "57" through the setting ``compte_citoyen.workdays.subdiv``) are not working days.
Dates are counted in the city's time zone (Europe/Paris), whatever the server's.
"""
from __future__ import annotations

import datetime
import functools
import zoneinfo

import holidays

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

#: The validation delay promised to citizens (FAQ "Pourquoi n'ai-je aucune facture").
VALIDATION_DELAY = 2


@functools.lru_cache(maxsize=64)
def _holidays(year: int, subdiv: str | None) -> frozenset[datetime.date]:
    return frozenset(holidays.France(years=[year], subdiv=subdiv or None).keys())


def is_public_holiday(day: datetime.date, subdiv: str | None = None) -> bool:
    return day in _holidays(day.year, subdiv)


def is_working_day(day: datetime.date, subdiv: str | None = None) -> bool:
    return day.weekday() < 5 and not is_public_holiday(day, subdiv)


def local_today(now: datetime.datetime | None = None) -> datetime.date:
    """Today's date in Paris (or the date in Paris of ``now``): the city's calendar day, whatever the time zone of
    the server (a server on UTC is still on yesterday between midnight and 1 or 2 in the morning, Paris time)."""
    return local_date(now) if now is not None else datetime.datetime.now(PARIS).date()


def local_date(moment: datetime.datetime | datetime.date) -> datetime.date:
    """The calendar date in Paris of a moment (naive datetimes are taken as UTC)."""
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        return moment.astimezone(PARIS).date()
    return moment


def working_days_between(start: datetime.date, end: datetime.date, subdiv: str | None = None) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not after ``start``).

    An account created on a Friday is 1 working day old on the Monday after, 0 during the weekend.
    """
    if end <= start:
        return 0
    first = start + datetime.timedelta(days=1)
    total_days = (end - first).days + 1
    weeks, rest = divmod(total_days, 7)
    count = weeks * 5
    for offset in range(rest):
        if (first + datetime.timedelta(days=weeks * 7 + offset)).weekday() < 5:
            count += 1
    for year in range(first.year, end.year + 1):
        for day in _holidays(year, subdiv):
            if first <= day <= end and day.weekday() < 5:
                count -= 1
    return count


def add_working_days(start: datetime.date, days: int, subdiv: str | None = None) -> datetime.date:
    """The date ``days`` working days after ``start`` (the validation deadline of an account)."""
    day = start
    remaining = days
    while remaining > 0:
        day += datetime.timedelta(days=1)
        if is_working_day(day, subdiv):
            remaining -= 1
    return day


def subdiv_of(settings) -> str | None:
    return (settings or {}).get("compte_citoyen.workdays.subdiv") or None


def age_in_working_days(created: datetime.datetime, now: datetime.datetime | None = None,
                        subdiv: str | None = None) -> int:
    """Age of something created at ``created``, in working days (Paris calendar)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return working_days_between(local_date(created), local_date(now), subdiv)


def is_late(created: datetime.datetime, now: datetime.datetime | None = None, subdiv: str | None = None,
            delay: int = VALIDATION_DELAY) -> bool:
    """Past the promised delay (more than ``delay`` working days old)."""
    return age_in_working_days(created, now, subdiv) > delay
