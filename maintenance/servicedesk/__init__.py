"""The after-sales service desk (issue 13): customers' requests from every channel,
response clocks, complaints, follow-ups. It depends on work orders and learns that a job
finished from outbox events; work orders never depend on it.

    customers   customer records and contacts, every change audited (R-INFO)
    requests    a request, its thread, states and clocks (R-INTAKE, R-RESPONSE)
    intake      classifying a request and what each class opens (fault report → order)
    complaints  the complaint lifecycle (R-COMPLAINT)
"""
from maintenance.servicedesk.requests import (Channel, MessageKind, RequestClass, RequestState, add_message, move,
                                              number, open_request)

__all__ = ["Channel", "MessageKind", "RequestClass", "RequestState", "add_message", "move", "number", "open_request"]
