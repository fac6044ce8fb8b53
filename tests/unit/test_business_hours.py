"""Business hours: the schedule in the workspace's timezone, holidays, and the away and greeting messages sent at
most once per contact per period."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo

import pytest

from blazz import audit, auto_replies, business_hours, workspace_settings
from blazz.business_hours import BusinessHours, Holiday, check_week
from blazz.errors import Invalid
from tests.unit.test_outbox_harness import customer, running, until

ME = audit.Actor(None, "test")
JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")
ALWAYS_OPEN = {day: [{"from": "00:00", "to": "24:00"}] for day in business_hours.DAYS}
NEVER_OPEN: dict = {}


def at(text: str, tz=JAKARTA) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz)


def test_the_office_week_is_open_on_weekdays_from_nine_to_five():
    hours = BusinessHours()
    assert hours.is_open(at("2026-11-23 09:00"))  # a Monday
    assert hours.is_open(at("2026-11-23 16:59"))
    assert not hours.is_open(at("2026-11-23 17:00"))
    assert not hours.is_open(at("2026-11-23 08:59"))
    assert not hours.is_open(at("2026-11-28 12:00"))  # Saturday


def test_split_days_holidays_and_the_next_change():
    week = check_week({"mon": [{"from": "13:00", "to": "17:00"}, {"from": "08:00", "to": "12:00"}],
                       "tue": [{"from": "08:00", "to": "12:00"}]})
    hours = BusinessHours(week=week, holidays=(Holiday("2026-11-24", "Staff day"),))
    assert [i.as_dict() for i in hours.week["mon"]] == [{"from": "08:00", "to": "12:00"},
                                                         {"from": "13:00", "to": "17:00"}]
    assert not hours.is_open(at("2026-11-23 12:30"))  # lunch
    assert hours.next_change(at("2026-11-23 12:30")) == at("2026-11-23 13:00")
    assert hours.next_change(at("2026-11-23 14:00")) == at("2026-11-23 17:00")
    # Tuesday is a holiday: after Monday it next opens on the Monday after.
    assert not hours.is_open(at("2026-11-24 09:00"))
    assert hours.next_change(at("2026-11-23 18:00")) == at("2026-11-30 08:00")
    assert BusinessHours(week=check_week({})).next_change(at("2026-11-23 18:00")) is None


def test_hours_until_midnight_run_into_the_next_day_without_a_change():
    hours = BusinessHours(week=check_week({"fri": [{"from": "18:00", "to": "24:00"}],
                                           "sat": [{"from": "00:00", "to": "02:00"}]}))
    assert hours.is_open(at("2026-11-27 23:59")) and hours.is_open(at("2026-11-28 01:00"))
    assert hours.next_change(at("2026-11-27 20:00")) == at("2026-11-28 02:00")


def test_the_schedule_follows_the_local_clock_across_a_daylight_saving_change():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    hours = BusinessHours()
    # 2026-03-30 is the Monday after clocks went forward: 09:00 local is 07:00 UTC, not 08:00.
    utc_seven = dt.datetime(2026, 3, 30, 7, 0, tzinfo=dt.UTC)
    assert hours.is_open(utc_seven.astimezone(berlin))
    assert not hours.is_open(dt.datetime(2026, 3, 30, 6, 59, tzinfo=dt.UTC).astimezone(berlin))


@pytest.mark.parametrize(("changes", "field"), [
    ({"week": {"mon": [{"from": "9:00", "to": "17:00"}]}}, "week.mon"),
    ({"week": {"mon": [{"from": "17:00", "to": "09:00"}]}}, "week.mon"),
    ({"week": {"mon": [{"from": "09:00", "to": "13:00"}, {"from": "12:00", "to": "17:00"}]}}, "week.mon"),
    ({"week": {"mon": [{"from": "09:00", "to": "10:00"}] * 4}}, "week.mon"),
    ({"week": {"funday": []}}, "week.funday"),
    ({"week": {"mon": [{"from": "09:00", "until": "10:00"}]}}, "week.mon"),
    ({"week": "9-5"}, "week"),
    ({"holidays": [{"date": "25/12/2026"}]}, "holidays"),
    ({"holidays": "christmas"}, "holidays"),
    ({"away": {"active": True, "text": ""}}, "away.text"),
    ({"away": {"period_s": 10}}, "away.period_s"),
    ({"greeting": {"active": "yes"}}, "greeting.active"),
    ({"greeting": {"colour": "red"}}, "greeting.colour"),
    ({"lunch": True}, "lunch"),
])
async def test_bad_business_hours_are_refused_naming_the_field(tmp_path, changes, field):
    async with running(tmp_path, connect=False) as h:
        with pytest.raises(Invalid) as exc:
            await business_hours.update(h.ws, ME, **changes)
        assert exc.value.field == field
        assert (await business_hours.load(h.ws)) == BusinessHours()


async def test_settings_are_stored_and_come_back(tmp_path):
    async with running(tmp_path, connect=False) as h:
        await business_hours.update(h.ws, ME, week={"sat": [{"from": "10:00", "to": "14:00"}]},
                                    holidays=[{"date": "2026-12-25", "name": " Christmas "},
                                              {"date": "2026-08-17", "name": "Independence Day"}],
                                    away={"active": True, "text": "Closed now", "period_s": 3600})
        hours = await business_hours.load(h.ws)
        assert hours.week["sat"][0].as_dict() == {"from": "10:00", "to": "14:00"} and hours.week["mon"] == ()
        assert [(x.date, x.name) for x in hours.holidays] == [("2026-08-17", "Independence Day"),
                                                              ("2026-12-25", "Christmas")]
        assert hours.away.as_dict() == {"active": True, "text": "Closed now", "period_s": 3600}
        assert not hours.greeting.active
        await workspace_settings.update(h.ws.db, timezone="Asia/Jakarta")
        state = await business_hours.status(h.ws, hours, at=at("2026-11-28 11:00").timestamp())
        assert state.open and state.next_change == at("2026-11-28 14:00") and str(state.now.tzinfo) == "Asia/Jakarta"


async def test_outside_hours_the_away_message_goes_once_per_contact_per_period(tmp_path):
    async with running(tmp_path) as h:
        await business_hours.update(h.ws, ME, week=NEVER_OPEN,
                                    away={"active": True, "text": "Hi {{first_name|there}}, we are closed."})
        await h.engine.inbound(customer(1), "Halo", name="Dewi")
        await h.engine.inbound(customer(1), "Halo?")
        await h.engine.inbound(customer(2), "Anyone?")
        await until(lambda: h.delivered(customer(2)))
        await asyncio.sleep(0.2)
        assert [d["text"] for d in h.delivered(customer(1))] == ["Hi Dewi, we are closed."]
        assert [d["text"] for d in h.delivered(customer(2))] == ["Hi there, we are closed."]
        # Inside opening hours nobody gets it.
        await business_hours.update(h.ws, ME, week=ALWAYS_OPEN)
        await h.engine.inbound(customer(3), "Halo")
        await asyncio.sleep(0.3)
        assert h.delivered(customer(3)) == []


async def test_the_greeting_opens_new_conversations_only(tmp_path):
    async with running(tmp_path) as h:
        await business_hours.update(h.ws, ME, week=ALWAYS_OPEN,
                                    greeting={"active": True, "text": "Welcome to Toko Sinar!", "period_s": 86400})
        await h.engine.inbound(customer(1), "Halo")
        await h.engine.inbound(customer(1), "Ada stok?")
        await until(lambda: h.delivered(customer(1)))
        await asyncio.sleep(0.2)
        assert [d["text"] for d in h.delivered(customer(1))] == ["Welcome to Toko Sinar!"]
        # A conversation quiet for longer than the period is new again.
        await h.ws.db.execute_write("UPDATE messages SET created_at = created_at - 90000")
        await h.ws.db.execute_write("UPDATE automation_sends SET last_at = last_at - 90000")
        await h.engine.inbound(customer(1), "Halo lagi")
        await until(lambda: len(h.delivered(customer(1))) == 2)


async def test_while_closed_the_away_message_replaces_the_greeting_and_rules_still_answer(tmp_path):
    async with running(tmp_path) as h:
        await business_hours.update(h.ws, ME, week=NEVER_OPEN, away={"active": True, "text": "closed"},
                                    greeting={"active": True, "text": "welcome"})
        await auto_replies.create(h.ws, ME, trigger="contains", pattern="price", reply={"text": "prices"})
        await h.engine.inbound(customer(1), "price?")
        await until(lambda: len(h.delivered(customer(1))) == 2)
        await asyncio.sleep(0.2)
        assert [d["text"] for d in h.delivered(customer(1))] == ["closed", "prices"]
