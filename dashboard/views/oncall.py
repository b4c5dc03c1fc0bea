"""On-call: who is on call now per region and tier, next handovers, rotations, overrides."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from collector.actions import Role, add_override, remove_override, set_rotation
from collector.oncall import DEFAULT_TZ, Person
from dashboard import queries_oncall, ui
from dashboard.i18n import N_, t
from dashboard.text import md

# Every string of this page, in one place (zh-CN: dashboard/locales/zh_cn_oncall.py).
T = {
    "title": N_("On-call"),
    "now": N_("On call now"),
    "none": N_("No on-call rotation yet: an operator sets one below."),
    "next": N_("Next handovers (14 days)"),
    "schedule": N_("Rotations and overrides"),
    "need": N_("edit rotations and add overrides"),
    "rot_head": N_("**Set a rotation** (replaces the region's rotation for that tier)"),
    "region": N_("Region"),
    "tier": N_("Tier (1 technician, 2 supervisor, 3 manager)"),
    "tz": N_("Time zone"),
    "start_day": N_("First handover: date (local)"),
    "start_time": N_("First handover: time (local)"),
    "shift": N_("Shift length (hours; 168 = one week)"),
    "members": N_("People in order, one per line: name, mobile, chat user id"),
    "save_rot": N_("Save rotation"),
    "ov_head": N_("**Add an override** (someone covers a tier for a while)"),
    "name": N_("Name"),
    "phone": N_("Mobile"),
    "im": N_("Chat user id (optional)"),
    "from_day": N_("From: date (region's local time)"),
    "from_time": N_("From: time"),
    "to_day": N_("To: date"),
    "to_time": N_("To: time"),
    "note": N_("Note"),
    "add_ov": N_("Add override"),
    "rm_head": N_("**Remove an override**"),
    "override": N_("Override"),
    "remove": N_("Remove override"),
    "no_region": N_("No regions in the inventory yet: import regions first."),
    "bad_member": N_("Line {n}: write name, mobile, chat user id (mobile and id optional)."),
}

# The zone is not emptied: a text box is cleared to '' (not to its default), and the next
# rotation is usually in the same zone.
ROTATION_KEYS = ("rot_tier", "rot_day", "rot_time", "rot_shift", "rot_members")
OVERRIDE_KEYS = (
    "ov_tier", "ov_name", "ov_phone", "ov_im", "ov_from_day", "ov_from_time", "ov_to_day",
    "ov_to_time", "ov_note",
)  # fmt: skip


c = ui.ctx()  # empties the forms' widgets after a successful save (``ui.act_and_clear``)
st.title(t(T["title"]))
ui.flash()
now = c.now.replace(second=0, microsecond=0)

current: pd.DataFrame = ui.load(c, queries_oncall.oncall_now, now)
st.subheader(t(T["now"]))
if len(current):
    ui.table(current, "on-call-now")
else:
    st.info(t(T["none"]))

st.subheader(t(T["next"]))
ui.table(ui.load(c, queries_oncall.handovers, now), "on-call-handovers")

st.subheader(t(T["schedule"]))
schedule: pd.DataFrame = ui.load(c, queries_oncall.schedule, now)
ui.table(schedule, "on-call-schedule")


def _members(text: str) -> list[Person] | None:
    people = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) > 3:
            st.error(md(t(T["bad_member"], n=n)))
            return None
        parts += [""] * (3 - len(parts))
        people.append(Person(parts[0], parts[1], parts[2]))
    return people


if ui.need(c, Role.OPERATOR, t(T["need"])):
    region_ids: list[str] = ui.load(c, queries_oncall.regions)
    if not region_ids:
        st.info(t(T["no_region"]))
    left, right = st.columns(2)
    with left, st.form("rotation"):
        st.write(t(T["rot_head"]))
        region = st.selectbox(t(T["region"]), region_ids, key="rot_region")
        tier = st.number_input(t(T["tier"]), 1, 9, 1, step=1, key="rot_tier")
        tz = st.text_input(t(T["tz"]), DEFAULT_TZ, key="rot_tz")
        day = st.date_input(t(T["start_day"]), now.date(), key="rot_day")
        start_t = st.time_input(t(T["start_time"]), time(9, 0), key="rot_time")
        shift_h = st.number_input(t(T["shift"]), 1.0, 24.0 * 28, 168.0, step=1.0, key="rot_shift")
        members_text = st.text_area(t(T["members"]), key="rot_members")
        if st.form_submit_button(t(T["save_rot"])):
            people = _members(members_text)
            if people is not None:
                ui.act_and_clear(
                    c,
                    ROTATION_KEYS,
                    set_rotation,
                    region_id=str(region or ""),
                    tier=int(tier),
                    members=people,
                    start_local=datetime.combine(day, start_t),
                    shift=timedelta(hours=float(shift_h)),
                    tz=tz.strip(),
                    now=c.now,
                )
    with right, st.form("override"):
        st.write(t(T["ov_head"]))
        o_region = st.selectbox(t(T["region"]), region_ids, key="ov_region")
        o_tier = st.number_input(t(T["tier"]), 1, 9, 1, step=1, key="ov_tier")
        name = st.text_input(t(T["name"]), key="ov_name")
        phone = st.text_input(t(T["phone"]), key="ov_phone")
        im_id = st.text_input(t(T["im"]), key="ov_im")
        # Defaults: from this hour until the same time tomorrow, on the default zone's clock.
        here = now.astimezone(ZoneInfo(DEFAULT_TZ))
        f1, f2 = st.columns(2)
        from_day = f1.date_input(t(T["from_day"]), here.date(), key="ov_from_day")
        from_t = f2.time_input(t(T["from_time"]), time(here.hour, 0), key="ov_from_time")
        t1, t2 = st.columns(2)
        to_day = t1.date_input(t(T["to_day"]), here.date() + timedelta(days=1), key="ov_to_day")
        to_t = t2.time_input(t(T["to_time"]), time(here.hour, 0), key="ov_to_time")
        note = st.text_input(t(T["note"]), key="ov_note")
        if st.form_submit_button(t(T["add_ov"])):
            rot = current[current["region"] == o_region]
            zone = ZoneInfo(str(rot["tz"].iloc[0]) if len(rot) else DEFAULT_TZ)
            ui.act_and_clear(
                c,
                OVERRIDE_KEYS,
                add_override,
                region_id=str(o_region or ""),
                tier=int(o_tier),
                person=Person(name, phone, im_id),
                starts_at=datetime.combine(from_day, from_t, tzinfo=zone),
                ends_at=datetime.combine(to_day, to_t, tzinfo=zone),
                note=note,
                now=c.now,
            )
    overrides = schedule[schedule["kind"] == "override"]
    if len(overrides):
        with st.form("remove_override"):
            st.write(t(T["rm_head"]))
            rows = overrides.set_index("override_id")
            oid = st.selectbox(
                t(T["override"]),
                [int(i) for i in rows.index],
                format_func=lambda i: t(
                    "#{id} {region} tier {tier}: {name} {starts} - {ends}",
                    id=i,
                    region=rows.at[i, "region"],
                    tier=rows.at[i, "tier"],
                    name=rows.at[i, "name"],
                    starts=rows.at[i, "starts"],
                    ends=rows.at[i, "ends"],
                ),
            )
            if st.form_submit_button(t(T["remove"])):
                ui.act(c, remove_override, int(oid), c.now)
