"""Issue 11, item 3: sequence counters restart at every boot of some firmware. A restart
is detected and recorded, gaps are counted per run of the counter, and the count is never
negative, so a reboot cannot cancel real losses in the fleet total. Real broker, ingest,
PostgreSQL and API."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.devices import Device, telemetry, wait_for


def stored(db, pile: str) -> int:
    return db.execute("SELECT count(*) FROM telemetry WHERE connector_id = 0 AND pile_id = %s", (pile,)).fetchone()[0]


def send(settings, db, pile: str, seqs: list[int], start: datetime) -> datetime:
    """Publish `seqs` one second apart from `start`, in that order; wait until stored."""
    device = Device(settings)
    before = stored(db, pile)
    for i, seq in enumerate(seqs):
        device.telemetry(pile, seq, ts=(start + timedelta(seconds=i)).isoformat())
    device.wait_acked()
    device.close()
    wait_for(lambda: stored(db, pile) == before + len(seqs), message=f"{len(seqs)} messages stored")
    return start + timedelta(seconds=len(seqs))


def counters(api, pile: str) -> tuple[int, int]:
    detail = api.get(f"/piles/{pile}").json()
    return detail["sequence_gaps"], detail["sequence_restarts"]


def an_hour_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=1)


def test_a_reboot_after_two_messages_gives_no_gaps_and_one_restart(settings, db, fleet, ingest, api):
    pile = fleet[0]
    send(settings, db, pile, [1, 2, 1], an_hour_ago())
    assert counters(api, pile) == (0, 1)
    assert db.execute("SELECT seq_before, seq_after FROM seq_restarts WHERE pile_id = %s", (pile,)).fetchall() == [(2, 1)]


def test_a_restart_after_500_messages_gives_no_gaps(settings, db, fleet, ingest, api):
    pile = fleet[0]
    send(settings, db, pile, list(range(1, 501)) + list(range(1, 51)), an_hour_ago())
    assert counters(api, pile) == (0, 1)


@pytest.mark.parametrize("runs, gaps, restarts", [
    ([[1, 2, 3, 5], [1, 2, 4]], 2, 1),           # one lost before the reboot, one after
    ([[10, 11, 12], [0, 1], [0, 1, 2]], 0, 2),   # two reboots, restarting at 0
    ([[100, 101, 103], [7, 8]], 1, 1),           # a counter that restarts somewhere else
    ([[1, 2, 3], [2, 3, 4, 6]], 1, 1),           # back by one, the lost 5 still counts
    ([[5, 6, 7, 8, 9], [1], [1, 3]], 1, 2),       # a run of one message
])
def test_gaps_are_counted_per_run_of_the_counter(settings, db, fleet, ingest, api, runs, gaps, restarts):
    one_batch, run_by_run = fleet[0], fleet[1]
    send(settings, db, one_batch, [seq for run in runs for seq in run], an_hour_ago())
    at = an_hour_ago()
    for run in runs:  # the same, each run in its own batch
        at = send(settings, db, run_by_run, run, at)
    assert counters(api, one_batch) == (gaps, restarts)
    assert counters(api, run_by_run) == (gaps, restarts)


def test_a_reboot_does_not_cancel_real_losses_in_the_fleet_total(settings, db, fleet, ingest, api):
    send(settings, db, fleet[0], [1, 2, 3, 7, 8], an_hour_ago())    # 3 lost
    send(settings, db, fleet[1], [1, 2, 1, 2, 1], an_hour_ago())    # two reboots, nothing lost
    stats = api.get("/ingest/stats").json()
    assert (stats["sequence_gaps"], stats["piles_with_gaps"]) == (3, 1)


def test_a_late_upload_from_before_the_reboot_fills_the_gap_of_the_run_it_belongs_to(settings, db, fleet, ingest, api):
    pile = fleet[0]
    start = an_hour_ago()
    send(settings, db, pile, [1, 2], start)
    send(settings, db, pile, [4], start + timedelta(seconds=3))
    send(settings, db, pile, [1, 2], start + timedelta(seconds=10))  # rebooted
    assert counters(api, pile) == (1, 1)
    send(settings, db, pile, [3], start + timedelta(seconds=2))      # buffered from the first run
    assert counters(api, pile) == (0, 1)


def test_an_upload_of_buffered_messages_is_no_restart(settings, db, fleet, ingest, api):
    pile = fleet[0]
    start = an_hour_ago()
    send(settings, db, pile, [10, 11], start + timedelta(seconds=10))
    send(settings, db, pile, [5, 6, 7, 8, 9], start + timedelta(seconds=5))  # older, uploaded late
    assert counters(api, pile) == (0, 0)


@pytest.mark.parametrize("seqs, restarts", [
    ([1, 2, 2 ** 63 - 1, 3, 4], 2),        # the reviewer's: a corrupted counter for one message
    ([1, 2, 3, 5_000_000_000, 5_000_000_001], 1),  # a counter reinitialised far ahead
    ([10, 11, 2 ** 62, 2 ** 63 - 2, 12], 3),
    ([1, 2, 900, 3, 4], 2),                 # the second reviewer's: a one-off glitch a second later
])
def test_a_counter_that_jumps_further_than_the_pile_could_send_counts_no_gaps(settings, db, fleet, ingest, api,
                                                                               seqs, restarts):
    pile = fleet[0]
    send(settings, db, pile, seqs, an_hour_ago())
    assert counters(api, pile) == (0, restarts)


def test_two_piles_with_wild_counters_leave_the_fleet_statistics_readable(settings, db, fleet, ingest, api):
    for pile in fleet[:2]:
        send(settings, db, pile, [2, 2 ** 63 - 1, 3], an_hour_ago())
    response = api.get("/ingest/stats")
    assert response.status_code == 200
    assert response.json()["sequence_gaps"] == 0


def test_a_late_upload_with_a_wild_number_is_stored_but_not_counted(settings, db, fleet, ingest, api):
    pile = fleet[0]
    start = an_hour_ago()
    send(settings, db, pile, [1, 2, 3, 4], start)
    send(settings, db, pile, [2 ** 63 - 1], start - timedelta(minutes=5))  # older than the newest: a late upload
    assert counters(api, pile) == (0, 0)


def test_a_real_loss_after_a_jump_still_counts(settings, db, fleet, ingest, api):
    pile = fleet[0]
    send(settings, db, pile, [1, 2, 9_000_000_000, 9_000_000_001, 9_000_000_004], an_hour_ago())
    assert counters(api, pile) == (2, 1)
