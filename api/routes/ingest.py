"""How ingest is doing: counters, sequence gaps, dead letters."""
from __future__ import annotations

import base64
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import OFFICE, require
from api.deps import Conn, Offset
from api.models import DeadLetterPublic, DeadLettersPublic, IngestStats, WorkerStats

router = APIRouter(prefix="/ingest", tags=["ingest"], dependencies=[Depends(require(*OFFICE))])


@router.get("/stats", summary="Messages received, stored, duplicates, dead-lettered; sequence gaps (lost data)")
def stats(conn: Conn, minutes: Annotated[int | None, Query(ge=1, le=525_600, description="only the last N minutes")] = None) -> IngestStats:
    since = "WHERE minute >= date_trunc('minute', now()) - make_interval(mins => %(m)s)" if minutes else ""
    # Sums of bigint counters stay numeric (PostgreSQL's sum of bigint) and become Python
    # ints: one pile's counter may be near 2^63 (a counter that jumped), and a total of two
    # such is beyond bigint, not an error.
    workers = [{k: int(v) if isinstance(v, Decimal) else v for k, v in w.items()} for w in conn.execute(
        "SELECT worker, sum(received) AS received, sum(stored) AS stored, sum(duplicates) AS duplicates, "
        "sum(dead_lettered) AS dead_lettered, max(minute) AS last_minute "
        f"FROM ingest_counters {since} GROUP BY worker ORDER BY worker", {"m": minutes}).fetchall()]
    gaps = conn.execute(
        "SELECT coalesce(sum(seq_gaps), 0) AS gaps, "
        "count(*) FILTER (WHERE seq_gaps > 0) AS piles_with_gaps, "
        "count(*) FILTER (WHERE clock_skewed) AS skewed FROM pile_state").fetchone()
    return IngestStats(
        received=sum(w["received"] for w in workers), stored=sum(w["stored"] for w in workers),
        duplicates=sum(w["duplicates"] for w in workers), dead_lettered=sum(w["dead_lettered"] for w in workers),
        sequence_gaps=int(gaps["gaps"]), piles_with_gaps=gaps["piles_with_gaps"], clock_skewed_piles=gaps["skewed"],
        workers=[WorkerStats(**w) for w in workers],
    )


@router.get("/dead-letters", summary="Device messages that could not be stored, newest first, with the reason")
def dead_letters(
    conn: Conn,
    pile_id: str | None = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with timezone")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
    offset: Offset = 0,
) -> DeadLettersPublic:
    where, params = [], {"limit": limit, "offset": offset}
    if pile_id:
        where.append("pile_id = %(pile)s")
        params["pile"] = pile_id
    if since:
        where.append("received_at >= %(since)s")
        params["since"] = since
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = conn.execute("SELECT * FROM dead_letters" + clause + " ORDER BY received_at DESC, id DESC "
                        "LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()
    count = conn.execute("SELECT count(*) AS n FROM dead_letters" + clause, params).fetchone()["n"]
    data = []
    for r in rows:
        raw = bytes(r.pop("payload"))
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode(), "base64"
        data.append(DeadLetterPublic(**r, payload=text, payload_encoding=encoding))
    return DeadLettersPublic(data=data, count=count)
