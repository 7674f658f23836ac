"""Preventive-maintenance plans (R-PM): validated, stored in `maintenance_plans`, with a
shipped default set loaded into an empty table."""
from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

import psycopg
import yaml
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pilecare.domain import PileKind, SiteEnvironment
from pilecare.errors import Conflict, InvalidInput, NotFound

PLAN_ID_PATTERN = r"^[a-z][a-z0-9._-]{0,63}$"
USAGE_THRESHOLDS = ("energy_kwh", "sessions", "plug_cycles", "operating_hours")

Factor = Annotated[float, Field(gt=0, le=2)]
ChecklistItem = Annotated[str, Field(min_length=1, max_length=200)]


class PlanFields(BaseModel):
    """Everything about a plan except its id (the body of a replace)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    kind: PileKind
    model_id: str | None = Field(default=None, description="NULL: every model of the kind without a plan of its own.")
    interval_days: int | None = Field(default=None, ge=1, le=3650,
                                      description="Calendar interval in days, before environment; or interval_months.")
    interval_months: int | None = Field(
        default=None, ge=1, le=120,
        description="Calendar interval in calendar months instead of days: due on the pile's in-service day of the "
                    "month (its local date at the site), a day the month lacks moving to the month's last "
                    "(from 31 January: 28/29 February, 31 March, 30 April …; maintenance/planning/calendar.py).")
    # allow_inf_nan: JSON's 1e400 parses as infinity, a threshold never reached.
    energy_kwh: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                     description="Energy delivered since the last PM.")
    # le: the columns are PostgreSQL integers.
    sessions: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Charging sessions started since the last PM.")
    plug_cycles: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Connector plug-ins since the last PM.")
    operating_hours: float | None = Field(default=None, gt=0, allow_inf_nan=False,
                                          description="Hours in which the pile delivered energy since the last PM.")
    lead_days: int = Field(default=14, ge=0, le=365,
                           description="Orders are created this long before they fall due; shorter than the "
                                       "calendar interval (28 days a month).")
    environment_factors: dict[SiteEnvironment, Factor] = Field(
        default_factory=dict,
        description="Calendar interval multipliers per site environment; a site's factors are multiplied.")
    min_factor: float = Field(default=0.5, gt=0, le=1, description="The combined factor never goes below this.")
    checklist: list[ChecklistItem] = Field(min_length=1, max_length=50)
    active: bool = True

    @model_validator(mode="after")
    def _coherent(self):
        if self.interval_days is not None and self.interval_months is not None:
            raise ValueError("give interval_days or interval_months, not both")
        if self.interval_days is None and self.interval_months is None and \
                all(getattr(self, k) is None for k in USAGE_THRESHOLDS):
            raise ValueError("a plan needs interval_days, interval_months or at least one usage threshold "
                             f"({', '.join(USAGE_THRESHOLDS)})")
        # Otherwise the next order would be created the moment the previous one closes.
        if self.interval_days is not None and self.lead_days >= self.interval_days:
            raise ValueError(f"lead_days ({self.lead_days}) must be shorter than interval_days ({self.interval_days})")
        if self.interval_months is not None and self.lead_days >= 28 * self.interval_months:
            raise ValueError(f"lead_days ({self.lead_days}) must be shorter than interval_months "
                             f"({self.interval_months}) at its shortest ({28 * self.interval_months} days)")
        repeated = sorted({item for item in self.checklist if self.checklist.count(item) > 1})
        if repeated:
            raise ValueError(f"checklist items must be unique; repeated: {', '.join(repeated)}")
        return self


class PlanSpec(PlanFields):
    id: str = Field(pattern=PLAN_ID_PATTERN)


class PlanSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: list[PlanSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        ids = [p.id for p in self.plans]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"each plan id may appear once; repeated: {', '.join(repeated)}")
        return self


def explain(error: ValidationError, what: str) -> InvalidInput:
    """A pydantic error as one InvalidInput naming each problem and where it is."""
    problems = [f"{'.'.join(str(p) for p in e['loc']) or what}: {e['msg']}"
                for e in error.errors(include_url=False, include_input=False)[:5]]
    return InvalidInput(f"invalid {what}: " + "; ".join(problems))


def parse(text: str) -> list[PlanSpec]:
    """Parse and validate a YAML plan set; InvalidInput names what is wrong and where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInput(f"plan set is not valid YAML: {error}") from error
    try:
        return PlanSet.model_validate(data).plans
    except ValidationError as error:
        raise explain(error, "plan set") from error


def default() -> list[PlanSpec]:
    return parse(resources.files("maintenance.planning").joinpath("plans.default.yaml").read_text())


_COLUMNS = ("id", "name", "kind", "model_id", "interval_days", "interval_months", "energy_kwh", "sessions",
            "plug_cycles", "operating_hours", "lead_days", "environment_factors", "min_factor", "checklist", "active")
_SELECT = "SELECT " + ", ".join(_COLUMNS) + ", created_at, created_by, updated_at, updated_by FROM maintenance_plans"


def _params(spec: PlanFields) -> dict[str, Any]:
    values = spec.model_dump(mode="json")
    values["environment_factors"] = Jsonb(values["environment_factors"])
    values["checklist"] = Jsonb(values["checklist"])
    return values


def _insert(conn: psycopg.Connection, spec: PlanSpec, actor: str, *, on_conflict: str = "") -> int:
    names = ", ".join(_COLUMNS)
    values = ", ".join(f"%({c})s" for c in _COLUMNS)
    return conn.execute(
        f"INSERT INTO maintenance_plans ({names}, created_by, updated_by) VALUES ({values}, %(actor)s, %(actor)s) "
        + on_conflict, {**_params(spec), "actor": actor}).rowcount


def seed_default_plans(conn: psycopg.Connection, actor: str = "system") -> int:
    """Load the shipped plans into an empty table; return how many were inserted.

    Only an empty table is seeded: once operators have plans (even inactive ones) theirs
    stand. Deactivate plans rather than delete them all, or the defaults come back.
    Concurrent seeders insert each default once (ON CONFLICT on the id).
    """
    with conn.cursor(row_factory=tuple_row) as cur:
        if cur.execute("SELECT EXISTS (SELECT 1 FROM maintenance_plans)").fetchone()[0]:
            return 0
    inserted = 0
    with conn.transaction():
        for spec in default():
            inserted += _insert(conn, spec, actor, on_conflict="ON CONFLICT (id) DO NOTHING")
    return inserted


def _check_model(conn: psycopg.Connection, spec: PlanFields) -> None:
    if spec.model_id is None:
        return
    with conn.cursor(row_factory=tuple_row) as cur:
        row = cur.execute("SELECT kind FROM pile_models WHERE id = %s", (spec.model_id,)).fetchone()
    if row is None:
        raise InvalidInput(f"model_id: no pile model {spec.model_id!r}")
    if row[0] != spec.kind.value:
        raise InvalidInput(f"model_id: {spec.model_id!r} is a {row[0]} model but the plan is for {spec.kind.value} piles")


def list_plans(conn: psycopg.Connection, *, kind: PileKind | None = None, model_id: str | None = None,
               active: bool | None = None) -> list[dict]:
    where, params = [], {}
    for column, value in (("kind", kind.value if kind else None), ("model_id", model_id), ("active", active)):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_SELECT + clause + " ORDER BY id", params).fetchall()


def get_plan(conn: psycopg.Connection, plan_id: str) -> dict:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT + " WHERE id = %s", (plan_id,)).fetchone()
    if row is None:
        raise NotFound(f"maintenance plan {plan_id!r} does not exist")
    return row


def create_plan(conn: psycopg.Connection, spec: PlanSpec, actor: str) -> dict:
    _check_model(conn, spec)
    try:
        _insert(conn, spec, actor)
    except psycopg.errors.UniqueViolation as error:
        raise Conflict(f"a maintenance plan {spec.id!r} already exists") from error
    return get_plan(conn, spec.id)


def update_plan(conn: psycopg.Connection, plan_id: str, fields: PlanFields, actor: str) -> dict:
    """Replace a plan. Orders already issued keep their checklist and due date."""
    _check_model(conn, fields)
    assignments = ", ".join(f"{c} = %({c})s" for c in _COLUMNS if c != "id")
    updated = conn.execute(
        f"UPDATE maintenance_plans SET {assignments}, updated_at = now(), updated_by = %(actor)s WHERE id = %(id)s",
        {**_params(fields), "id": plan_id, "actor": actor}).rowcount
    if not updated:
        raise NotFound(f"maintenance plan {plan_id!r} does not exist")
    return get_plan(conn, plan_id)


def delete_plan(conn: psycopg.Connection, plan_id: str) -> None:
    """Delete a plan no order refers to; a plan with history is deactivated instead (409)."""
    try:
        deleted = conn.execute("DELETE FROM maintenance_plans WHERE id = %s", (plan_id,)).rowcount
    except psycopg.errors.ForeignKeyViolation as error:
        raise Conflict(f"maintenance plan {plan_id!r} has work orders; set active to false instead") from error
    if not deleted:
        raise NotFound(f"maintenance plan {plan_id!r} does not exist")
