"""A fault reported by a person (phone, e-mail, web; R-INTAKE): it opens the pile's
corrective order for the category, or joins the open one, exactly as a rule's alarm would.
"""
from __future__ import annotations

import psycopg

from maintenance.alarms import rulestore
from maintenance.orders.lifecycle import note, open_corrective
from maintenance.orders.safety import take_out_of_service
from maintenance.outbox import notify
from maintenance.policy import Policy
from pilecare.domain import Severity
from pilecare.errors import InvalidInput, NotFound

OTHER = "other"


def categories(conn: psycopg.Connection) -> set[str]:
    """The fault categories a report may name: the live rule set's, plus "other"."""
    return {rule.category for rule in rulestore.load(conn)[0].rules} | {OTHER}


def report_fault(conn: psycopg.Connection, policy: Policy, downlink, *, pile_id: str, fault_category: str,
                 title: str, description: str | None, severity: Severity, safety: bool,
                 actor: str) -> tuple[int, bool]:
    """Open (or join) the pile's corrective order for `fault_category`; returns
    (order id, created). Priority and SLA clocks come from the policy (severity, the
    customer's tier, safety; R-RESPONSE). A new safety order tells the supervisor and takes
    the pile out of service when the policy says so (R-REPAIR), as for a rule's alarm.

    Raises InvalidInput for a category outside the rule set's vocabulary (an order no rule,
    KPI or triage setting would ever match) and NotFound for an unknown pile."""
    known = categories(conn)
    if fault_category not in known:
        raise InvalidInput(f"unknown fault_category {fault_category!r}; valid: {', '.join(sorted(known))}")
    tier = conn.execute("SELECT c.tier FROM piles p JOIN sites s ON s.id = p.site_id JOIN customers c "
                        "ON c.id = s.customer_id WHERE p.id = %s", (pile_id,)).fetchone()
    if tier is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    response_h, resolve_h = policy.sla_for(severity, tier[0], safety)
    order_id, created = open_corrective(
        conn, pile_id, fault_category, title=title, actor=actor, severity=severity.value,
        priority=policy.priority_for(severity, tier[0], safety), safety=safety, description=description,
        response_h=response_h, resolve_h=resolve_h, repeat_days=policy.repeat_days)
    if not created:
        note(conn, order_id, f"reported again by {actor}: {title}", actor=actor)
    elif safety:
        notify(conn, "safety", "supervisor", f"Safety fault {title} on pile {pile_id} (reported by {actor}): "
                                             f"order {order_id}", work_order_id=order_id, pile_id=pile_id)
        if policy.safety_out_of_service:
            take_out_of_service(conn, downlink, order_id, pile_id, actor=actor, settle_s=policy.command_settle_s)
    return order_id, created
