"""The live rule set: read and edit rule by rule. Every edit is validated against the
whole set (422 with the reasons) and kept in the history; maintenance processes pick it
up on their next pass."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, status

from api.auth import OFFICE, SUPERVISE, Actor, require
from api.deps import Conn, PlainConn
from maintenance.alarms import rulestore
from pilecare.errors import NotFound

router = APIRouter(prefix="/rules", tags=["rules"], dependencies=[Depends(require(*OFFICE))])
Supervisor = [Depends(require(*SUPERVISE))]

RuleBody = Body(description="One rule, as in maintenance/alarms/rules.default.yaml (fields depend on `kind`).",
                examples=[{"id": "connector.overheat", "kind": "threshold", "metric": "temp_c", "above": True,
                           "raise_at": 90, "clear_at": 80, "for_s": 120, "category": "thermal", "severity": "major"}])


@router.get("", summary="The live rule set and its version")
def list_rules(conn: PlainConn) -> dict:
    ruleset, version = rulestore.load(conn)
    rules = [r.model_dump(mode="json", exclude_none=True) for r in ruleset.rules]
    return {"data": rules, "count": len(rules), "version": version}


@router.get("/history", summary="Every edit of the rule set: who, when, what")
def history(conn: Conn, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> list[dict]:
    return conn.execute("SELECT id AS version, rule_id, action, definition, at, actor FROM rule_changes "
                        "ORDER BY id DESC LIMIT %s", (limit,)).fetchall()


@router.get("/{rule_id}", summary="One rule")
def get_rule(conn: PlainConn, rule_id: str) -> dict:
    ruleset, _ = rulestore.load(conn)
    rule = ruleset.by_id(rule_id)
    if rule is None:
        raise NotFound(f"rule {rule_id!r} does not exist")
    return rule.model_dump(mode="json", exclude_none=True)


@router.post("", dependencies=Supervisor, status_code=status.HTTP_201_CREATED, summary="Add a rule (409 if the id exists)")
def create_rule(conn: PlainConn, actor: Actor, body: dict[str, Any] = RuleBody) -> dict:
    return rulestore.save(conn, body, actor=actor, create=True).model_dump(mode="json", exclude_none=True)


@router.put("/{rule_id}", dependencies=Supervisor, summary="Replace a rule")
def replace_rule(conn: PlainConn, actor: Actor, rule_id: str, body: dict[str, Any] = RuleBody) -> dict:
    return rulestore.save(conn, body, actor=actor, rule_id=rule_id).model_dump(mode="json", exclude_none=True)


@router.delete("/{rule_id}", dependencies=Supervisor, status_code=status.HTTP_204_NO_CONTENT, summary="Delete a rule (its active alarms stay)")
def delete_rule(conn: PlainConn, actor: Actor, rule_id: str) -> None:
    rulestore.delete(conn, rule_id, actor=actor)
