"""Working days around French public holidays and weekends (account validation delay)."""
import datetime as dt

import pytest

from compte_citoyen.household import workdays

D = dt.date


@pytest.mark.parametrize("start,end,expected", [
    (D(2026, 3, 2), D(2026, 3, 2), 0),    # same day
    (D(2026, 3, 2), D(2026, 3, 4), 2),    # Monday -> Wednesday
    (D(2026, 3, 6), D(2026, 3, 7), 0),    # Friday -> Saturday
    (D(2026, 3, 6), D(2026, 3, 8), 0),    # Friday -> Sunday
    (D(2026, 3, 6), D(2026, 3, 9), 1),    # Friday -> Monday
    (D(2026, 3, 6), D(2026, 3, 10), 2),   # Friday -> Tuesday
    (D(2026, 3, 2), D(2026, 3, 16), 10),  # two full weeks
    (D(2026, 4, 3), D(2026, 4, 7), 1),    # Friday before Easter Monday (6 April) -> Tuesday
    (D(2026, 4, 30), D(2026, 5, 4), 1),   # Thursday 30 April -> Monday: 1 May (Friday) is a holiday
    (D(2026, 5, 7), D(2026, 5, 11), 1),   # 8 May (Friday) is a holiday
    (D(2026, 5, 13), D(2026, 5, 15), 1),  # Ascension Thursday 14 May
    (D(2026, 7, 13), D(2026, 7, 15), 1),  # 14 July
    (D(2026, 8, 14), D(2026, 8, 17), 1),  # 15 August on a Saturday changes nothing
    (D(2026, 12, 24), D(2026, 12, 28), 1),  # Christmas Friday
    (D(2026, 12, 31), D(2027, 1, 4), 1),  # New Year's Day (Friday), across the year
    (D(2026, 3, 4), D(2026, 3, 2), 0),    # end before start
])
def test_working_days_between(start, end, expected):
    assert workdays.working_days_between(start, end) == expected


def test_counting_matches_a_day_by_day_count_over_two_years():
    start = D(2025, 1, 1)
    for span in (1, 3, 7, 30, 100, 400, 730):
        end = start + dt.timedelta(days=span)
        slow = sum(1 for i in range(1, span + 1) if workdays.is_working_day(start + dt.timedelta(days=i)))
        assert workdays.working_days_between(start, end) == slow


def test_add_working_days_skips_weekends_and_holidays():
    assert workdays.add_working_days(D(2026, 3, 2), 2) == D(2026, 3, 4)
    assert workdays.add_working_days(D(2026, 3, 5), 2) == D(2026, 3, 9)      # Thursday -> Monday
    assert workdays.add_working_days(D(2026, 4, 30), 2) == D(2026, 5, 5)     # over 1 May and a weekend
    assert workdays.add_working_days(D(2026, 5, 13), 2) == D(2026, 5, 18)    # over Ascension and a weekend


def test_alsace_moselle_subdivision_adds_good_friday():
    good_friday = D(2026, 4, 3)
    assert workdays.is_working_day(good_friday)
    assert not workdays.is_working_day(good_friday, subdiv="57")


def test_age_uses_the_paris_calendar():
    # 23:30 UTC on Thursday 5 March is already Friday in Paris: Monday is then 1 working day later
    created = dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.timezone.utc)  # Friday 00:30 in Paris
    monday = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.timezone.utc)
    assert workdays.age_in_working_days(created, monday) == 1
    tuesday = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.timezone.utc)
    wednesday = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.timezone.utc)
    assert not workdays.is_late(created, tuesday)
    assert workdays.is_late(created, wednesday)


def test_today_is_the_day_in_paris_not_on_the_server_clock():
    """From midnight to 1 am in Paris in winter (2 am in summer) a server on UTC is still on the day before:
    dates typed by citizens and staff ("not in the past", "not in the future") are checked against Paris."""
    winter_night = dt.datetime(2026, 11, 26, 23, 30, tzinfo=dt.timezone.utc)
    assert workdays.local_today(winter_night) == dt.date(2026, 11, 27)
    summer_night = dt.datetime(2026, 7, 13, 22, 30, tzinfo=dt.timezone.utc)
    assert workdays.local_today(summer_night) == dt.date(2026, 7, 14)
    assert workdays.local_today(dt.datetime(2026, 7, 13, 21, 30, tzinfo=dt.timezone.utc)) == dt.date(2026, 7, 13)
    now = dt.datetime.now(dt.timezone.utc)
    assert workdays.local_today() in (workdays.local_today(now), workdays.local_today(now + dt.timedelta(seconds=5)))
