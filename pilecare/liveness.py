"""When a pile counts as online: the one definition the API, the KPIs, verification and the
condition rules share.

A pile is online while its connection says so (the broker's session, or the pile's own
status; a last will flips it at once) AND it has been heard from within
SILENCE_INTERVALS of its model's reporting interval: a pile that goes silent without a
last will (a hung modem, a cut cable behind a NAT) is offline too. Three intervals ride
out one lost or late message without calling a live pile offline.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from pilecare.domain import PileEventType

SILENCE_INTERVALS = 3


def silent_from_sql(state: str = "ps", model: str = "m") -> str:
    """SQL: when a pile last heard at `{state}.last_seen` counts as silent (timestamptz)."""
    return f"({state}.last_seen + make_interval(secs => {SILENCE_INTERVALS} * {model}.reporting_interval_s))"


def online_sql(state: str = "ps", model: str = "m") -> str:
    """SQL: whether the pile of `pile_state` row `state` (model row `model`) is online now;
    NULL when the pile never reported (callers coalesce)."""
    return f"({state}.online AND {silent_from_sql(state, model)} > now())"


def is_online(online: bool | None, last_seen: datetime | None, reporting_interval_s: float, now: datetime, *,
              intervals: float = SILENCE_INTERVALS) -> bool:
    """The same rule in Python; `intervals` lets the offline rule set its own patience."""
    return bool(online and last_seen and now - last_seen < timedelta(seconds=intervals * reporting_interval_s))


def settled_sql(state: str = "ps", model: str = "m", settle_s: str = "%(settle_s)s") -> str:
    """SQL: whether the pile of `pile_state` row `state` is online and has stayed up at least
    `settle_s` seconds (an SQL expression) since its last (re)connect (its `online` status
    message, connectivity_changed_at) and since its last `boot` event (broker time: device
    clocks restart in 1970). Automatic commands wait for it: one sent into a boot can feed a
    reboot loop (domain brief, "Field realities"), and one sent to an offline pile is queued
    by the broker and delivered at the reconnect, that is, into the boot. NULL counts as no."""
    return (f"({online_sql(state, model)} "
            f"AND coalesce({state}.connectivity_changed_at, '-infinity') <= now() - make_interval(secs => {settle_s}) "
            f"AND NOT EXISTS (SELECT 1 FROM pile_events b WHERE b.pile_id = {state}.pile_id AND b.type = '{PileEventType.BOOT.value}' "
            f"AND b.received_at > now() - make_interval(secs => {settle_s})))")
