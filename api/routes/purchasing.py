"""Inbound (R-PARTS, issue 14): purchase orders to suppliers, goods receipts and their inspection,
supplier claims, and scrapping quarantined parts. The rules are the server's
(maintenance/inventory/purchasing.py, receipts.py, claims.py; docs/purchasing.md).

Office roles read (OFFICE); the parts keeper and supervisors act (STORES). Ordering is
refused beyond the month's parts-purchasing budget unless a manager approved the spending
first (maintenance/costs/purchasing_budget.py; R-COST).

Every POST takes an optional `Idempotency-Key` header, as the field API does
(api/idempotency.py): a retried goods receipt whose answer was lost is answered again, not
recorded twice (docs/purchasing.md, "Retries").
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth import OFFICE, STORES, Actor, require
from api.deps import Offset, PlainConn
from api.idempotency import IdempotentRoute
from api.purchasing_models import (Cancel, CloseShort, GoodsReceiptCreate, GoodsReceiptDetail, GoodsReceiptPublic,
                                   GoodsReceiptsPublic, Inspection, NameSupplier, OrderLines, OrderReceiptCreate,
                                   PurchaseOrderCreate, PurchaseOrderDetail, PurchaseOrderPublic,
                                   PurchaseOrdersPublic, ScrapCreate, ScrapPublic, Settle, Ship, SupplierClaimDetail,
                                   SupplierClaimPublic, SupplierClaimsPublic)
from maintenance.costs import order_within_budget
from maintenance.inventory import (ClaimState, OrderLine, PurchaseOrderState, ReceiptLine, claims, on_hand,
                                   purchasing, receipts)

router = APIRouter(tags=["purchasing"], route_class=IdempotentRoute)

READ = [Depends(require(*OFFICE))]
ACT = [Depends(require(*STORES))]
Limit = Annotated[int, Query(ge=1, le=1000)]
Id = Annotated[int, Query(ge=1, le=2**63 - 1)]


def _order_lines(lines) -> list[OrderLine]:
    return [OrderLine(line.part_id, line.quantity, line.unit_price) for line in lines]


def _receipt_lines(lines) -> list[ReceiptLine]:
    return [ReceiptLine(line.part_id, line.quantity, line.unit_price) for line in lines]


# --- purchase orders ---

@router.get("/purchase-orders", dependencies=READ,
            summary="Purchase orders, newest first; filter by state, supplier, part, overdue")
def list_orders(
    conn: PlainConn,
    state: Annotated[list[PurchaseOrderState] | None, Query()] = None,
    supplier_id: str | None = Query(default=None, max_length=64),
    part_id: str | None = Query(default=None, max_length=64),
    overdue: bool = Query(default=False, description="true: still open for receipt after its expected_at"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> PurchaseOrdersPublic:
    rows, count = purchasing.orders(conn, state=state or (), supplier_id=supplier_id, part_id=part_id,
                                    overdue_at=datetime.now(timezone.utc) if overdue else None, limit=limit,
                                    offset=offset)
    return PurchaseOrdersPublic(data=[PurchaseOrderPublic(**r) for r in rows], count=count)


@router.post("/purchase-orders", status_code=201, dependencies=ACT,
             summary="A draft purchase order to a supplier, delivered to a warehouse")
def create_order(conn: PlainConn, actor: Actor, body: PurchaseOrderCreate) -> PurchaseOrderDetail:
    order_id = purchasing.create(conn, body.supplier_id, body.location_id, _order_lines(body.lines), actor=actor,
                                 note=body.note)
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.get("/purchase-orders/{order_id}", dependencies=READ,
            summary="One purchase order with its lines (received, outstanding) and goods receipts")
def get_order(conn: PlainConn, order_id: int) -> PurchaseOrderDetail:
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.put("/purchase-orders/{order_id}/lines", dependencies=ACT, summary="Replace a draft's lines")
def replace_lines(conn: PlainConn, actor: Actor, order_id: int, body: OrderLines) -> PurchaseOrderDetail:
    purchasing.replace_lines(conn, order_id, _order_lines(body.lines), actor=actor)
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.post("/purchase-orders/{order_id}/order", dependencies=ACT,
             summary="Send a draft to the supplier: ordered_at now, expected_at from the supplier's lead times; "
                     "a part the supplier does not list is a 422; beyond the month's parts-purchasing budget and "
                     "its approvals a 409 naming the budget and the shortfall (R-COST)")
def place_order(conn: PlainConn, actor: Actor, order_id: int) -> PurchaseOrderDetail:
    order_within_budget(conn, order_id, actor=actor)
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.post("/purchase-orders/{order_id}/cancel", dependencies=ACT,
             summary="Cancel a draft or ordered purchase order (never once goods were received)")
def cancel_order(conn: PlainConn, actor: Actor, order_id: int, body: Cancel) -> PurchaseOrderDetail:
    purchasing.cancel(conn, order_id, actor=actor, reason=body.reason)
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.post("/purchase-orders/{order_id}/close", dependencies=ACT,
             summary="Close an ordered or partially received purchase order short, with the reason the rest will "
                     "not come: its outstanding units are no longer on order nor committed spending")
def close_order(conn: PlainConn, actor: Actor, order_id: int, body: CloseShort) -> PurchaseOrderDetail:
    purchasing.close_short(conn, order_id, actor=actor, reason=body.reason)
    return PurchaseOrderDetail(**purchasing.purchase_order(conn, order_id))


@router.post("/purchase-orders/{order_id}/receipts", status_code=201, dependencies=ACT,
             summary="Receive goods against the purchase order (each line at most what is outstanding) into the "
                     "warehouse's receiving area, to be inspected")
def receive_order(conn: PlainConn, actor: Actor, order_id: int, body: OrderReceiptCreate) -> GoodsReceiptDetail:
    receipt_id = receipts.receive(conn, _receipt_lines(body.lines), purchase_order_id=order_id,
                                  delivery_note=body.delivery_note, actor=actor)
    return GoodsReceiptDetail(**receipts.receipt(conn, receipt_id))


# --- goods receipts and inspection ---

@router.get("/goods-receipts", dependencies=READ,
            summary="Goods receipts, newest first; filter by supplier, purchase order, lines waiting for inspection")
def list_receipts(
    conn: PlainConn,
    supplier_id: str | None = Query(default=None, max_length=64),
    purchase_order_id: Id | None = None,
    to_inspect: bool | None = Query(default=None, description="true: some line waits for inspection"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> GoodsReceiptsPublic:
    rows, count = receipts.receipts(conn, supplier_id=supplier_id, purchase_order_id=purchase_order_id,
                                    to_inspect=to_inspect, limit=limit, offset=offset)
    return GoodsReceiptsPublic(data=[GoodsReceiptPublic(**r) for r in rows], count=count)


@router.post("/goods-receipts", status_code=201, dependencies=ACT,
             summary="Receive goods without a purchase order (supplier named) into the warehouse's receiving area")
def receive(conn: PlainConn, actor: Actor, body: GoodsReceiptCreate) -> GoodsReceiptDetail:
    receipt_id = receipts.receive(conn, _receipt_lines(body.lines), supplier_id=body.supplier_id,
                                  location_id=body.location_id, delivery_note=body.delivery_note, actor=actor)
    return GoodsReceiptDetail(**receipts.receipt(conn, receipt_id))


@router.get("/goods-receipts/{receipt_id}", dependencies=READ,
            summary="One goods receipt with its lines, their inspection and claims")
def get_receipt(conn: PlainConn, receipt_id: int) -> GoodsReceiptDetail:
    return GoodsReceiptDetail(**receipts.receipt(conn, receipt_id))


@router.post("/goods-receipts/{receipt_id}/lines/{line_id}/inspection", dependencies=ACT,
             summary="Inspect a line once: passed units to the warehouse, failed ones to quarantine with a "
                     "supplier claim (a second inspection is a 409)")
def inspect(conn: PlainConn, actor: Actor, receipt_id: int, line_id: int, body: Inspection) -> GoodsReceiptDetail:
    receipts.inspect(conn, receipt_id, line_id, passed=body.passed_quantity, failed=body.failed_quantity,
                     failure_reason=body.failure_reason, actor=actor)
    return GoodsReceiptDetail(**receipts.receipt(conn, receipt_id))


# --- supplier claims and scrap ---

@router.get("/supplier-claims", dependencies=READ,
            summary="Supplier claims, newest first; filter by state, supplier, part, supplier still to be named")
def list_claims(
    conn: PlainConn,
    state: Annotated[list[ClaimState] | None, Query()] = None,
    supplier_id: str | None = Query(default=None, max_length=64),
    part_id: str | None = Query(default=None, max_length=64),
    without_supplier: bool | None = Query(default=None, description="true: no supplier named yet"),
    limit: Limit = 100,
    offset: Offset = 0,
) -> SupplierClaimsPublic:
    rows, count = claims.claims(conn, state=state or (), supplier_id=supplier_id, part_id=part_id,
                                without_supplier=without_supplier, limit=limit, offset=offset)
    return SupplierClaimsPublic(data=[SupplierClaimPublic(**r) for r in rows], count=count)


@router.get("/supplier-claims/{claim_id}", dependencies=READ, summary="One supplier claim with its stock movements")
def get_claim(conn: PlainConn, claim_id: int) -> SupplierClaimDetail:
    return SupplierClaimDetail(**claims.claim(conn, claim_id))


@router.post("/supplier-claims/{claim_id}/supplier", dependencies=ACT,
             summary="Name the supplier of an open claim that has none")
def name_supplier(conn: PlainConn, actor: Actor, claim_id: int, body: NameSupplier) -> SupplierClaimDetail:
    claims.name_supplier(conn, claim_id, body.supplier_id, actor=actor)
    return SupplierClaimDetail(**claims.claim(conn, claim_id))


@router.post("/supplier-claims/{claim_id}/ship", dependencies=ACT,
             summary="Send the claim's parts back to the supplier: a supplier_return movement out of quarantine")
def ship(conn: PlainConn, actor: Actor, claim_id: int, body: Ship) -> SupplierClaimDetail:
    claims.ship(conn, claim_id, location_id=body.location_id, note=body.note, actor=actor)
    return SupplierClaimDetail(**claims.claim(conn, claim_id))


@router.post("/supplier-claims/{claim_id}/settle", dependencies=ACT,
             summary="Record the supplier's answer: credited or rejected, with the resolution")
def settle(conn: PlainConn, actor: Actor, claim_id: int, body: Settle) -> SupplierClaimDetail:
    claims.settle(conn, claim_id, body.outcome, resolution=body.resolution, actor=actor)
    return SupplierClaimDetail(**claims.claim(conn, claim_id))


@router.post("/quarantined-parts/scrap", status_code=201, dependencies=ACT,
             summary="Scrap quarantined parts outside a claim (a scrap movement with its reason)")
def scrap(conn: PlainConn, actor: Actor, body: ScrapCreate) -> ScrapPublic:
    claims.scrap(conn, body.part_id, body.quantity, body.location_id, reason=body.reason, actor=actor)
    return ScrapPublic(part_id=body.part_id, location_id=body.location_id, scrapped=body.quantity,
                       on_hand=on_hand(conn, body.location_id, body.part_id))
