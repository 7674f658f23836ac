"""API bodies of inbound (R-PARTS, issue 14): purchase orders, goods receipts with inspection,
supplier claims and scrap (api/routes/purchasing.py)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field

from api.models import RequestBody
from maintenance.inventory import ClaimOutcome, ClaimState, PurchaseOrderState

Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000)]


class OrderLineCreate(RequestBody):
    part_id: str = Field(max_length=64)
    quantity: Quantity
    unit_price: Money | None = Field(default=None, description="Default: the supplier's listed price, else the "
                                                               "part's standard cost.")


class PurchaseOrderCreate(RequestBody):
    supplier_id: str = Field(max_length=64)
    location_id: str = Field(max_length=64, description="The warehouse it is delivered to.")
    lines: list[OrderLineCreate] = Field(min_length=1, max_length=200, description="One line per part.")
    note: str | None = Field(default=None, max_length=2000)


class OrderLines(RequestBody):
    lines: list[OrderLineCreate] = Field(min_length=1, max_length=200, description="Replace the draft's lines.")


class Cancel(RequestBody):
    reason: str | None = Field(default=None, max_length=2000)


class CloseShort(RequestBody):
    reason: str = Field(min_length=1, max_length=2000,
                        description="Why the rest will not come (e.g. the supplier discontinued the part).")


class OrderLinePublic(BaseModel):
    id: int
    part_id: str
    part_name: str
    supplier_part_number: str | None
    quantity: int
    unit_price: float
    received: int = Field(description="Units delivered so far on this order's goods receipts.")
    outstanding: int = Field(description="Ordered less received; on a closed_short order it will never come.")


class PurchaseOrderPublic(BaseModel):
    id: int
    supplier_id: str
    supplier_name: str
    state: PurchaseOrderState
    location_id: str
    note: str | None
    total: float = Field(description="Σ quantity × unit_price.")
    created_by: str
    created_at: datetime
    ordered_by: str | None
    ordered_at: datetime | None
    expected_at: datetime | None = Field(description="ordered_at + the supplier's longest lead time of its lines.")
    received_at: datetime | None = Field(description="When the goods receipt leaving nothing outstanding came.")
    cancelled_by: str | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    closed_by: str | None = Field(description="Who closed it short (state closed_short).")
    closed_at: datetime | None
    close_reason: str | None


class PurchaseOrdersPublic(BaseModel):
    data: list[PurchaseOrderPublic]
    count: int


class PurchaseOrderDetail(PurchaseOrderPublic):
    lines: list[OrderLinePublic]
    goods_receipt_ids: list[int]


class ReceiptLineCreate(RequestBody):
    part_id: str = Field(max_length=64)
    quantity: Quantity
    unit_price: Money | None = Field(default=None, description="Default: the purchase order's price, else the "
                                                               "supplier's listed price, else the standard cost.")


class OrderReceiptCreate(RequestBody):
    lines: list[ReceiptLineCreate] = Field(min_length=1, max_length=200,
                                           description="Each at most what is outstanding on the order.")
    delivery_note: str | None = Field(default=None, max_length=200, description="The supplier's delivery note number.")


class GoodsReceiptCreate(OrderReceiptCreate):
    supplier_id: str = Field(max_length=64)
    location_id: str = Field(max_length=64, description="The warehouse receiving the goods.")


class Inspection(RequestBody):
    passed_quantity: int = Field(ge=0, le=1_000_000)
    failed_quantity: int = Field(ge=0, le=1_000_000, description="passed + failed = the line's quantity.")
    failure_reason: str | None = Field(default=None, max_length=2000, description="Required when any failed.")


class ReceiptLinePublic(BaseModel):
    id: int
    part_id: str
    part_name: str
    quantity: int
    unit_price: float
    passed_quantity: int | None
    failed_quantity: int | None
    failure_reason: str | None
    inspected_by: str | None
    inspected_at: datetime | None
    supplier_claim_id: int | None = Field(description="The claim for the failed quantity.")


class GoodsReceiptPublic(BaseModel):
    id: int
    supplier_id: str
    supplier_name: str
    purchase_order_id: int | None
    location_id: str
    delivery_note: str | None
    received_at: datetime
    received_by: str
    lines_to_inspect: int


class GoodsReceiptsPublic(BaseModel):
    data: list[GoodsReceiptPublic]
    count: int


class GoodsReceiptDetail(GoodsReceiptPublic):
    lines: list[ReceiptLinePublic]


class NameSupplier(RequestBody):
    supplier_id: str = Field(max_length=64)


class Ship(RequestBody):
    location_id: str | None = Field(default=None, max_length=64, description="The quarantine area holding the "
                                                                             "parts; default: where they went in.")
    note: str | None = Field(default=None, max_length=2000, description="Carrier, tracking number, RMA …")


class Settle(RequestBody):
    outcome: ClaimOutcome
    resolution: str = Field(min_length=1, max_length=2000, description="Credit note, replacement, reason refused …")


class ClaimMovementPublic(BaseModel):
    id: int
    kind: str
    location_id: str
    quantity: int
    recorded_by: str
    recorded_at: datetime


class SupplierClaimPublic(BaseModel):
    id: int
    supplier_id: str | None = Field(description="Null until the parts keeper names one.")
    supplier_name: str | None
    part_id: str
    part_name: str
    quantity: int
    work_order_id: int | None = Field(description="Set for a defective part returned from the field.")
    goods_receipt_line_id: int | None = Field(description="Set for a failed inspection.")
    goods_receipt_id: int | None
    state: ClaimState
    reason: str
    resolution: str | None
    opened_by: str
    opened_at: datetime
    supplier_named_by: str | None
    supplier_named_at: datetime | None
    shipped_by: str | None
    shipped_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None


class SupplierClaimsPublic(BaseModel):
    data: list[SupplierClaimPublic]
    count: int


class SupplierClaimDetail(SupplierClaimPublic):
    movements: list[ClaimMovementPublic]


class ScrapCreate(RequestBody):
    part_id: str = Field(max_length=64)
    quantity: Quantity
    location_id: str = Field(max_length=64, description="The quarantine area holding the parts.")
    reason: str = Field(min_length=1, max_length=2000)


class ScrapPublic(BaseModel):
    part_id: str
    location_id: str
    scrapped: int
    on_hand: int = Field(description="What the quarantine area still holds of the part.")
