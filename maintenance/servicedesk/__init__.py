"""The after-sales service desk (issue 13): customers' requests from every channel,
response clocks, complaints, follow-ups. It depends on work orders and learns that a job
finished from outbox events; work orders never depend on it.

    customers   customer records and contacts, every change audited (R-INFO)
    requests    a request, its thread, states and clocks (R-INTAKE, R-RESPONSE)
    intake      classifying a request and what each class opens (fault report → order)
    complaints  the complaint lifecycle (R-COMPLAINT)
    mail_in     one received mail → a new request, a reply joining its request, or quarantine
    mail_parse  reading a mail: threading headers, text, whether a program sent it
    mail_out    mail to the customer through the outbox (acknowledgements, answers, …)
    smtp_listener  the inbound SMTP listener (`pilecare smtp`): 250 only after commit
    clocks      the desk's watchdog: warnings and escalations of requests, once each
    contacts    finding a caller or sender: E.164 numbers, addresses, matched to contacts
    linked_orders  a linked work order's moves as progress, resolution and reopening of requests
    complaint_analysis  complaints per engineer, team, category and period; what recurs
    follow_ups  calling the customer back after a job, and the survey link (R-FOLLOWUP)
"""
from maintenance.servicedesk.requests import (Channel, MessageKind, RequestClass, RequestState, add_message, move,
                                              number, open_request)

__all__ = ["Channel", "MessageKind", "RequestClass", "RequestState", "add_message", "move", "number", "open_request"]
