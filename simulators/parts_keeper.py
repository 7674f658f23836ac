"""The demo's parts keeper (issue 14, R-PARTS): keeps the vans stocked and the warehouse
supplied while the simulated crew uses parts (simulators/field_crew.py).

The keeper acts only through pilecare's HTTP API with the `demo-keeper` login
(simulators/platform_api.py), so every stock movement, purchase order, goods receipt,
inspection, claim and stock-take it makes is recorded as `demo-keeper`. Each round it:

- restocks each van at or below its reorder point (`GET /stock/low`) from its home
  warehouse, up to reorder point + order quantity, as far as the warehouse holds;
- turns the purchase proposals into purchase orders, one per supplier and warehouse, and
  orders them (a draft left by a restart is ordered too);
- receives what is outstanding on an order once the supplier's lead time has passed on the
  demo's clock: (expected_at − ordered_at) ÷ speed after ordering, as the crew's drives take
  1/speed of their time;
- inspects each received line: most pass, `fail_share` of the lines fail a unit or two
  (which go to quarantine with a supplier claim);
- names the usual supplier of a claim that has none, ships open claims, and records the
  supplier's answer a (scaled) week after shipping: mostly credited;
- about once a simulated day, stock-takes one location in turn, counting what the ledger
  holds with now and then a unit missing or found, then submits and approves.

It keeps no state of its own: what to do next is read from the API each round, so a restart
picks up where the last one stopped.
"""
from __future__ import annotations

import logging
import random
import threading
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from simulators.crew_accounts import KEEPER_USER, CrewAccount
from simulators.platform_api import ApiAway, PlatformApi, Refused

log = logging.getLogger(__name__)

SETTLE_AFTER = timedelta(days=7)      # a supplier answers a claim about a week after the parts arrive
FAILURES = ["housing cracked in transit", "wrong revision delivered", "fails the bench test"]


class PartsKeeper:
    """The demo's parts keeper; `run(stop)` until the event is set, or one `round()` at a time."""

    def __init__(self, api_url: str, accounts: list[CrewAccount], *, speed: float = 30.0, seed: int = 1,
                 fail_share: float = 0.1, variance_share: float = 0.2, every_s: float | None = None):
        keeper = next((a for a in accounts if a.user == KEEPER_USER), None)
        if keeper is None:
            raise ValueError(f"the parts keeper needs the {KEEPER_USER} account (crew-accounts)")
        self.api = PlatformApi(api_url, keeper.user, keeper.password)
        self.speed = max(1.0, speed)
        self.rng = random.Random(seed)
        self.fail_share, self.variance_share = fail_share, variance_share
        # At ×30 a look round every 20 s (ten simulated minutes), a stock-take a simulated day.
        self.every_s = every_s if every_s is not None else 600 / self.speed
        self.stock_take_every_s = 86400 / self.speed
        self.counted = 0    # stock-takes started, to take the locations in turn

    def round(self, now: datetime | None = None) -> None:
        """One look round the stores (module docstring), stock-takes aside."""
        now = now or datetime.now(timezone.utc)
        self.restock_vans()
        self.order_proposals()
        self.receive_deliveries(now)
        self.inspect_receipts()
        self.work_claims(now)

    # --- vans ------------------------------------------------------------------------

    def restock_vans(self) -> int:
        """Transfer to each low van from its home warehouse; returns the transfers made."""
        low = self._get("/stock/low", kind="van")
        made = 0
        for row in low["data"] if low else []:
            wanted = (row["reorder_point"] or 0) + (row["order_quantity"] or 0) - row["on_hand"]
            if wanted <= 0 or not row["parent_id"]:
                continue
            held = self._get("/stock/on-hand", location_id=row["parent_id"], part_id=row["part_id"])
            available = held["data"][0]["on_hand"] if held and held["data"] else 0
            quantity = min(wanted, available)
            if quantity <= 0:
                log.info("%s is low on %s but %s has none: the proposals order it", row["location_id"],
                         row["part_id"], row["parent_id"])
                continue
            made += self._did(self.api.call("POST", "/stock/transfers", json={
                "part_id": row["part_id"], "quantity": quantity, "from_location_id": row["parent_id"],
                "to_location_id": row["location_id"], "reason": "van restocked: at its reorder point"}),
                f"{quantity} × {row['part_id']} {row['parent_id']} → {row['location_id']}")
        return made

    # --- purchasing ------------------------------------------------------------------

    def order_proposals(self) -> int:
        """A purchase order per supplier and warehouse of the proposals, ordered at once; and
        any draft of the keeper's left unordered. Returns the orders placed."""
        proposals = self._get("/stock/purchase-proposals")
        for group in proposals["data"] if proposals else []:
            if group["supplier_id"] is None:
                log.info("no supplier lists %s", ", ".join(line["part_id"] for line in group["lines"]))
                continue
            by_warehouse = defaultdict(list)
            for line in group["lines"]:
                by_warehouse[line["location_id"]].append({"part_id": line["part_id"], "quantity": line["quantity"]})
            for warehouse, lines in by_warehouse.items():
                self._did(self.api.call("POST", "/purchase-orders", json={
                    "supplier_id": group["supplier_id"], "location_id": warehouse, "lines": lines,
                    "note": "from the purchase proposals"}), f"draft to {group['supplier_id']} for {warehouse}")
        drafts = self._get("/purchase-orders", state="draft")
        placed = 0
        for order in drafts["data"] if drafts else []:
            if order["created_by"] == self.api.user:
                placed += self._did(self.api.call("POST", f"/purchase-orders/{order['id']}/order"),
                                    f"purchase order {order['id']} ordered from {order['supplier_id']}")
        return placed

    def receive_deliveries(self, now: datetime) -> int:
        """Receive what is outstanding on each order whose scaled lead time has passed."""
        received = 0
        for state in ("ordered", "partially_received"):
            listed = self._get("/purchase-orders", state=state)
            for order in listed["data"] if listed else []:
                ordered_at = datetime.fromisoformat(order["ordered_at"])
                lead = datetime.fromisoformat(order["expected_at"]) - ordered_at
                if now < ordered_at + lead / self.speed:
                    continue
                detail = self._get(f"/purchase-orders/{order['id']}")
                lines = [{"part_id": line["part_id"], "quantity": line["outstanding"]}
                         for line in (detail or {}).get("lines", []) if line["outstanding"] > 0]
                if lines:
                    received += self._did(self.api.call("POST", f"/purchase-orders/{order['id']}/receipts", json={
                        "lines": lines, "delivery_note": f"DN-{self.rng.randrange(10**6):06d}"}),
                        f"delivery of purchase order {order['id']} received")
        return received

    def inspect_receipts(self) -> int:
        """Inspect every received line waiting for it; returns the lines inspected."""
        waiting = self._get("/goods-receipts", to_inspect="true")
        inspected = 0
        for receipt in waiting["data"] if waiting else []:
            detail = self._get(f"/goods-receipts/{receipt['id']}")
            for line in (detail or {}).get("lines", []):
                if line["inspected_at"] is not None:
                    continue
                failed = min(line["quantity"], self.rng.randint(1, 2)) if self.rng.random() < self.fail_share else 0
                body = {"passed_quantity": line["quantity"] - failed, "failed_quantity": failed}
                if failed:
                    body["failure_reason"] = self.rng.choice(FAILURES)
                inspected += self._did(self.api.call(
                    "POST", f"/goods-receipts/{receipt['id']}/lines/{line['id']}/inspection", json=body),
                    f"receipt {receipt['id']} {line['part_id']}: {body['passed_quantity']} passed, {failed} failed")
        return inspected

    def work_claims(self, now: datetime) -> int:
        """Name a supplier where none is, ship open claims, settle shipped ones a scaled week
        later (four in five credited). Returns the claims moved on."""
        moved = 0
        open_claims = self._get("/supplier-claims", state="open")
        for claim in open_claims["data"] if open_claims else []:
            if claim["supplier_id"] is None:
                part = self._get(f"/parts/{claim['part_id']}")
                if not part or not part["suppliers"]:
                    continue    # nobody lists it: the claim waits for a person
                self._did(self.api.call("POST", f"/supplier-claims/{claim['id']}/supplier",
                                        json={"supplier_id": part["suppliers"][0]["supplier_id"]}),
                          f"claim {claim['id']}: supplier named")
            moved += self._did(self.api.call("POST", f"/supplier-claims/{claim['id']}/ship", json={
                "note": f"RMA {self.rng.randrange(10**5):05d}, parcel service"}), f"claim {claim['id']} shipped")
        shipped = self._get("/supplier-claims", state="shipped")
        for claim in shipped["data"] if shipped else []:
            if now < datetime.fromisoformat(claim["shipped_at"]) + SETTLE_AFTER / self.speed:
                continue
            credited = self.rng.random() < 0.8
            moved += self._did(self.api.call("POST", f"/supplier-claims/{claim['id']}/settle", json={
                "outcome": "credited" if credited else "rejected",
                "resolution": "credit note received" if credited else "supplier found no defect"}),
                f"claim {claim['id']} {'credited' if credited else 'rejected'}")
        return moved

    # --- stock-takes -----------------------------------------------------------------

    def stock_take(self) -> int | None:
        """Count one location (warehouses and vans in turn) or finish the keeper's open sheet:
        the shelf is the ledger's on-hand, now and then a unit short or over; submit and
        approve. Returns the stock-take's id, or None when there was nothing to count."""
        open_takes = [t for state in ("counting", "submitted")
                      for t in (self._get("/stock-takes", state=state) or {"data": []})["data"]
                      if t["started_by"] == self.api.user]
        if open_takes:
            take_id = open_takes[0]["id"]
        else:
            locations = self._get("/stock/locations")
            usable = [loc["id"] for loc in (locations or {"data": []})["data"] if loc["kind"] in ("warehouse", "van")]
            if not usable:
                return None
            location_id = usable[self.counted % len(usable)]
            self.counted += 1
            started = self.api.call("POST", "/stock-takes", json={"location_id": location_id})
            if isinstance(started, Refused):
                return None
            take_id = started["id"]
        sheet = self._get(f"/stock-takes/{take_id}")
        if sheet is None:
            return None
        if sheet["state"] == "counting":
            shelf = {r["part_id"]: r["on_hand"] for r in
                     (self._get("/stock/on-hand", location_id=sheet["location_id"]) or {"data": []})["data"]}
            counts = []
            for line in sheet["lines"]:
                counted = shelf.get(line["part_id"], 0)
                if self.rng.random() < self.variance_share:
                    counted = max(0, counted + self.rng.choice([-1, 1]))
                counts.append({"part_id": line["part_id"], "counted": counted})
            if counts and isinstance(self.api.call("POST", f"/stock-takes/{take_id}/counts",
                                                   json={"counts": counts}), Refused):
                return take_id
            if isinstance(self.api.call("POST", f"/stock-takes/{take_id}/submit"), Refused):
                return take_id
        if isinstance(self.api.call("POST", f"/stock-takes/{take_id}/approve"), Refused):
            # Stock left the shelf between the count and the approval: count again next time.
            self.api.call("POST", f"/stock-takes/{take_id}/cancel")
        else:
            log.info("stock-take %s of %s approved", take_id, sheet["location_id"])
        return take_id

    # --- plumbing --------------------------------------------------------------------

    def _get(self, path: str, **params) -> dict | None:
        answer = self.api.call("GET", path, params=params)
        return None if isinstance(answer, Refused) else answer

    @staticmethod
    def _did(answer, what: str) -> int:
        if isinstance(answer, Refused):
            log.info("%s refused: %s %s", what, answer.status, answer.detail)
            return 0
        log.info("%s", what)
        return 1

    def run(self, stop: threading.Event) -> None:
        next_take = self.stock_take_every_s / 2
        waited = 0.0
        while not stop.is_set():
            try:
                self.round()
                if waited >= next_take:
                    self.stock_take()
                    next_take = waited + self.stock_take_every_s * self.rng.uniform(0.7, 1.3)
            except ApiAway as away:
                log.info("the API is away (%s); trying again shortly", away)
            except Exception:  # noqa: BLE001  (the demo goes on; the log says what happened)
                log.exception("parts keeper: unexpected error; carrying on")
            stop.wait(self.every_s)
            waited += self.every_s
        self.api.close()


def main(settings, args) -> None:
    """`pilecare parts-keeper`: the demo's parts keeper against the API of `--api` (default:
    the running `pilecare run` of this data directory)."""
    import signal
    from pathlib import Path

    from pilecare.db import running_instance
    from simulators.crew_accounts import ACCOUNTS_FILE, read_accounts

    api_url = args.api or (running_instance(settings) or {}).get("api_url")
    if not api_url:
        raise SystemExit("pilecare parts-keeper: no --api given and no `pilecare run` found")
    path = Path(args.accounts) if args.accounts else Path(settings.data_dir) / ACCOUNTS_FILE
    logging.getLogger("httpx").setLevel(logging.WARNING)
    keeper = PartsKeeper(api_url, read_accounts(path), speed=args.speed, seed=args.seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"parts keeper: {KEEPER_USER} keeps the stores of {api_url} (speed ×{args.speed})", flush=True)
    keeper.run(stop)
    print("parts keeper stopped", flush=True)
