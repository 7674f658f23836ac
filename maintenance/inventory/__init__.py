"""Spare parts (R-PARTS, issue 14): the catalogue, stock as a ledger of typed movements per
location (warehouses, vans, their receiving and quarantine areas), inbound with
inspection, returns, stock-takes and reorder planning. It sits below work orders: the
field flow and dispatch call it; it imports nothing of them.

    ledger    movements, on-hand, transfers and issues; never below zero (PostgreSQL)
    returns   defective parts back from the field, supplier claims under warranty
    stock_view    locations, on-hand per location and part (low-stock flag), the movement log
    stock_takes   count sheets, counts, approval into adjustments
    reorder       reorder points and order quantities from consumption (TSB), overrides
    proposals     the purchase proposal list, by cheapest supplier
    catalogue        parts (number, spec, unit, standard cost, pile models, alternates) and suppliers
    purchasing       purchase orders: draft → ordered → (partially_) received | closed_short | cancelled
    receipts         goods receipts into the receiving area, inspection passed / failed
    claims           supplier claims (name the supplier, ship, credited / rejected), scrap
    supplier_scores  supplier scorecard: on-time delivery, defect rate, lead time
"""
from maintenance.inventory.ledger import (USABLE, Line, Location, LocationKind, MovementKind, issue, location,
                                          on_hand, record, transfer)
from maintenance.inventory.returns import return_defective
from maintenance.inventory.proposals import purchase_proposals
from maintenance.inventory.reorder import recompute_all
from maintenance.inventory import catalogue, claims, purchasing, receipts, supplier_scores
from maintenance.inventory.catalogue import Listing
from maintenance.inventory.claims import ClaimOutcome, ClaimState
from maintenance.inventory.purchasing import OrderLine, PurchaseOrderState
from maintenance.inventory.receipts import ReceiptLine

__all__ = ["USABLE", "Line", "Location", "LocationKind", "MovementKind", "issue", "location", "on_hand", "record",
           "return_defective", "transfer"]
__all__ += ["purchase_proposals", "recompute_all"]
__all__ += ["ClaimOutcome", "ClaimState", "Listing", "OrderLine", "PurchaseOrderState", "ReceiptLine", "catalogue",
            "claims", "purchasing", "receipts", "supplier_scores"]
