"""The platform as threads of one process, for the tests and `pilecare docs screenshots`:
the API in a real uvicorn server on a free port, an ingest worker, the maintenance worker
with a policy whose clocks run in seconds, and a rule set stored as an operator would."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import uvicorn

from maintenance import policy as policies
from maintenance.worker import run
from pilecare.embedded import free_port


class Server:
    """create_app(settings) served by uvicorn in a thread, as `pilecare api` would."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # timeout_graceful_shutdown: open event streams must not hold the caller's teardown.
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> "Server":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class RunningWorker:
    """An ingest worker (`pilecare ingest`) in a thread, started once it has subscribed."""

    def __init__(self, worker):
        self.worker = worker
        self.thread = threading.Thread(target=worker.run, daemon=True)

    def start(self) -> "RunningWorker":
        self.thread.start()
        if not self.worker.subscribed.wait(10):
            raise RuntimeError("ingest worker did not subscribe")
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(30)

    def __enter__(self) -> "RunningWorker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def fast_policy(**changes) -> policies.Policy:
    """The default policy with clocks short enough to watch (seconds, not hours)."""
    base = policies.load()
    triage = base.triage.model_copy(update=changes.pop("triage", {}) | {})
    defaults = {"clear_after_s": 0, "verify_s": 1, "triage": triage, "command_settle_s": 0}
    return base.model_copy(update=defaults | changes)


@contextmanager
def running_worker(settings, policy):
    """`pilecare maintenance` (rules, policy, dispatch, delivery) in a thread."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, stop, 0.2), kwargs={"schedule": False, "policy": policy},
                              daemon=True)
    thread.start()
    try:
        yield policy
    finally:
        stop.set()
        thread.join(20)


def use_rules(db, text: str, actor: str = "test") -> None:
    """Replace the stored rule set (as an operator would, rule by rule)."""
    from maintenance.alarms import rules as rulesets
    from maintenance.alarms import rulestore

    ruleset = rulesets.parse(text)
    rulestore.load(db)  # seed first, so the default does not come back later
    for (rule_id,) in db.execute("SELECT id FROM rules").fetchall():
        rulestore.delete(db, rule_id, actor=actor)
    for rule in ruleset.rules:
        rulestore.save(db, rule.model_dump(mode="json", exclude_none=True), actor=actor, create=True)


def wait_for(predicate, timeout: float = 30, interval: float = 0.05, message: str = "condition"):
    """Poll `predicate` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {message} (last value: {last!r})")
