"""Spare parts (R-PARTS, issue 14): the catalogue, stock as a ledger of typed movements per
location (warehouses, vans, their receiving and quarantine areas), inbound with
inspection, returns, stock-takes and reorder planning. It sits below work orders: the
field flow and dispatch call it; it imports nothing of them.

    ledger    movements, on-hand, transfers and issues; never below zero (PostgreSQL)
    returns   defective parts back from the field, supplier claims under warranty
"""
from maintenance.inventory.ledger import (USABLE, Line, Location, LocationKind, MovementKind, issue, location,
                                          on_hand, record, transfer)
from maintenance.inventory.returns import return_defective

__all__ = ["USABLE", "Line", "Location", "LocationKind", "MovementKind", "issue", "location", "on_hand", "record",
           "return_defective", "transfer"]
