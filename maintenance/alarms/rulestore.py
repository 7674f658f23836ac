"""The live rule set lives in the `rules` table; every edit is kept in `rule_changes`,
whose newest id is the version maintenance processes reload on.

Edits are validated against the whole set (ids and error codes stay unique) under one
advisory lock, so two operators editing at once cannot create a set that fails to load.
"""
from __future__ import annotations

import json

import psycopg

from maintenance.alarms import rules as rulesets
from maintenance.alarms.rules import RuleSet, parse_rule
from pilecare.errors import Conflict, NotFound

_LOCK = "SELECT pg_advisory_xact_lock(hashtext('pilecare-rules'))"


def _seed(conn: psycopg.Connection) -> None:
    """Install the shipped default once: only while no rule has ever been stored."""
    with conn.transaction():
        conn.execute(_LOCK)
        if conn.execute("SELECT 1 FROM rule_changes LIMIT 1").fetchone():
            return
        for rule in rulesets.default().rules:
            _write(conn, rule, "created", "install")


def version(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM rule_changes").fetchone()[0]


def _ensure_seeded(conn: psycopg.Connection) -> None:
    if version(conn) == 0:
        _seed(conn)


def load(conn: psycopg.Connection) -> tuple[RuleSet, int]:
    """The current rule set and its version (seeding the default on first use)."""
    _ensure_seeded(conn)
    with conn.transaction():
        rows = conn.execute("SELECT definition FROM rules ORDER BY id").fetchall()
        current = version(conn)
    return rulesets.from_data({"rules": [r[0] for r in rows]}), current


def _write(conn: psycopg.Connection, rule, action: str, actor: str) -> None:
    definition = json.dumps(rule.model_dump(mode="json", exclude_none=True))
    conn.execute(
        "INSERT INTO rules (id, kind, definition, updated_at, updated_by) VALUES (%s, %s, %s, now(), %s) "
        "ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, definition = excluded.definition, "
        "updated_at = now(), updated_by = excluded.updated_by",
        (rule.id, rule.kind, definition, actor),
    )
    conn.execute("INSERT INTO rule_changes (rule_id, action, definition, actor) VALUES (%s, %s, %s, %s)",
                 (rule.id, action, definition, actor))


def save(conn: psycopg.Connection, data: dict, *, actor: str, rule_id: str | None = None, create: bool = False):
    """Create (create=True) or replace rule `rule_id` with `data`; return the rule.

    InvalidInput for a rule that does not validate or would break the set, NotFound for
    replacing an unknown rule, Conflict for creating an id that exists.
    """
    rule = parse_rule(data)
    if rule_id is not None and rule.id != rule_id:
        raise Conflict(f"the body's id {rule.id!r} does not match the path's {rule_id!r}; rule ids cannot change")
    _ensure_seeded(conn)
    with conn.transaction():
        conn.execute(_LOCK)
        exists = conn.execute("SELECT 1 FROM rules WHERE id = %s", (rule.id,)).fetchone() is not None
        if create and exists:
            raise Conflict(f"rule {rule.id!r} exists; use PUT /rules/{rule.id} to change it")
        if not create and not exists:
            raise NotFound(f"rule {rule.id!r} does not exist")
        others = [r[0] for r in conn.execute("SELECT definition FROM rules WHERE id <> %s", (rule.id,))]
        rulesets.from_data({"rules": others + [rule.model_dump(mode="json", exclude_none=True)]})
        _write(conn, rule, "created" if create else "updated", actor)
    return rule


def delete(conn: psycopg.Connection, rule_id: str, *, actor: str) -> None:
    _ensure_seeded(conn)
    with conn.transaction():
        conn.execute(_LOCK)
        if conn.execute("DELETE FROM rules WHERE id = %s", (rule_id,)).rowcount == 0:
            raise NotFound(f"rule {rule_id!r} does not exist")
        conn.execute("INSERT INTO rule_changes (rule_id, action, actor) VALUES (%s, 'deleted', %s)", (rule_id, actor))
