"""Issue 11, reviewer's item 3: one counter that jumps (seq 2 → 2^63−1) makes a pile's
lost-message count near 2^63; the fleet's totals over such counters are exact numbers,
never a bigint overflow (an error). Real PostgreSQL and API."""
from __future__ import annotations

GAPS = 9_200_000_000_000_000_000  # one pile's counter jump: about 2^63


def test_the_fleets_sequence_gaps_add_up_beyond_bigint(db, fleet, api):
    for pile in fleet[:2]:
        db.execute("UPDATE pile_state SET seq_gaps_closed = %s WHERE pile_id = %s", (GAPS, pile))
    assert db.execute("SELECT seq_gaps FROM pile_state WHERE pile_id = %s", (fleet[0],)).fetchone() == (GAPS,)

    for path in ("/ingest/stats", "/ingest/stats?minutes=60"):
        response = api.get(path)
        assert response.status_code == 200, response.text
        assert (response.json()["sequence_gaps"], response.json()["piles_with_gaps"]) == (2 * GAPS, 2)
    assert api.get(f"/piles/{fleet[0]}").json()["sequence_gaps"] == GAPS


def test_the_ingest_workers_message_counts_add_up_beyond_bigint(db, api):
    db.execute("INSERT INTO ingest_counters (worker, minute, received, stored) VALUES "
               "('ingest-a', date_trunc('minute', now()) - interval '1 minute', %(n)s, %(n)s), "
               "('ingest-a', date_trunc('minute', now()), %(n)s, %(n)s), "
               "('ingest-b', date_trunc('minute', now()), %(n)s, 1)", {"n": GAPS})

    response = api.get("/ingest/stats")

    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["received"], stats["stored"]) == (3 * GAPS, 2 * GAPS + 1)
    assert [(w["worker"], w["received"]) for w in stats["workers"]] == [("ingest-a", 2 * GAPS), ("ingest-b", GAPS)]
