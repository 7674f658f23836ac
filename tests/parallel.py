"""Run the same action on several connections released at the same moment."""
from __future__ import annotations

import threading

import psycopg


def in_parallel(database_url, action, workers=8):
    """Run `action(conn)` on `workers` connections released at the same moment."""
    barrier = threading.Barrier(workers)
    results, errors = [], []

    def run():
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            try:
                results.append(action(conn))
            except Exception as error:  # collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return results
