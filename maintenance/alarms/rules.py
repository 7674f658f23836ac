"""Rules as data: a YAML rule set (shipped default, then owned by the `rules` table and
edited through the API), validated with clear errors.

Each kind answers one question a maintenance engineer asks of the telemetry; the
evaluation lives next door (status_changes.py for error codes and Faulted, conditions.py
for the rest, trends.py for the scheduled pandas rules).
"""
from __future__ import annotations

from enum import Enum
from importlib import resources
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from pilecare.domain import ConnectorStatus, ErrorCode, Severity
from pilecare.errors import InvalidInput


class RuleKind(str, Enum):
    """What a rule watches (issue 3, "Rules as data")."""

    ERROR_CODE = "error_code"
    FAULTED = "faulted"
    THRESHOLD = "threshold"
    OFFLINE = "offline"
    DERATING = "derating"
    METER = "meter"
    FAILED_STARTS = "failed_starts"
    FLAPPING = "flapping"
    STUCK_SESSION = "stuck_session"
    TREND = "trend"


class Scope(str, Enum):
    """Whether a rule's alarm belongs to one connector or to the pile as a whole."""

    CONNECTOR = "connector"
    PILE = "pile"


# Metrics a threshold rule may watch: the latest value per connector, or per pile.
CONNECTOR_METRICS = ("temp_c", "voltage_v", "current_a", "power_kw", "soc_pct")
PILE_METRICS = ("temp_internal_c", "fan_rpm", "ambient_c")
TREND_METRICS = ("fan_rpm", "insulation_mohm", "temp_internal_c")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][A-Za-z0-9._-]{0,63}$")
    category: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    severity: Severity
    safety: bool = Field(default=False, description="A hazard to people (R-REPAIR): the pile may be taken out of service.")
    work_order: bool = Field(default=True, description="Open (or attach to) a corrective order for the category.")
    work_order_after_s: int = Field(default=0, ge=0, le=30 * 86_400,
                                    description="Persistence: open the order only once the alarm has lasted this long.")
    clear_after_s: int | None = Field(default=None, ge=0, le=86_400,
                                      description="Hold-off before a clear counts (flapping suppression); "
                                                  "default from the policy.")
    enabled: bool = True
    description: str | None = Field(default=None, max_length=500)


class ErrorCodeRule(_Rule):
    """An OCPP error code reported by a connector raises an alarm while it lasts."""

    kind: Literal["error_code"]
    error_code: ErrorCode
    vendor_error_code: str | None = Field(default=None, max_length=64,
                                          description="Only this vendor code; more specific than a rule without one.")
    scope: Scope = Scope.CONNECTOR

    @model_validator(mode="after")
    def _not_no_error(self):
        if self.error_code is ErrorCode.NO_ERROR:
            raise ValueError("NoError is the absence of a fault and cannot raise an alarm")
        return self


class FaultedRule(_Rule):
    """A connector, or the pile itself (connector 0), that reports Faulted without an error
    code a rule knows (NoError, or a code whose rule is disabled or deleted) raises an alarm
    while it stays Faulted: OCPP 1.6 Faulted means a fault prevents charging, with or
    without a reason. Unavailable is an operator's or a planned state and raises nothing.

    A code's own alarm on the same connector already stands for the fault, so none is
    raised beside it (a connector that stays Faulted while its code goes back to NoError
    keeps that alarm); one that comes later joins this alarm's work order."""

    kind: Literal["faulted"]
    scope: Literal[Scope.CONNECTOR] = Scope.CONNECTOR


class ThresholdRule(_Rule):
    """A measurement beyond `raise_at` for `for_s` raises; it clears only past `clear_at`
    (hysteresis), so a value hovering at the limit does not flap."""

    kind: Literal["threshold"]
    metric: Literal["temp_c", "voltage_v", "current_a", "power_kw", "soc_pct",
                    "temp_internal_c", "fan_rpm", "ambient_c"]
    above: bool = Field(default=True, description="true: alarm when above raise_at; false: when below.")
    raise_at: float
    clear_at: float
    for_s: int = Field(default=60, ge=0, le=86_400)
    while_status: list[ConnectorStatus] | None = Field(
        default=None, description="Only while the connector is in one of these statuses (connector metrics only).")

    @model_validator(mode="after")
    def _hysteresis(self):
        if self.above and not self.clear_at < self.raise_at:
            raise ValueError(f"clear_at ({self.clear_at}) must be below raise_at ({self.raise_at}) for an upper limit")
        if not self.above and not self.clear_at > self.raise_at:
            raise ValueError(f"clear_at ({self.clear_at}) must be above raise_at ({self.raise_at}) for a lower limit")
        if self.while_status and self.metric in PILE_METRICS:
            raise ValueError(f"while_status applies to connector metrics, not {self.metric}")
        return self

    @property
    def scope(self) -> Scope:
        return Scope.PILE if self.metric in PILE_METRICS else Scope.CONNECTOR


class OfflineRule(_Rule):
    """A last will (offline status) raises at once; silence longer than
    `silence_factor` × the model's reporting interval raises too."""

    kind: Literal["offline"]
    silence_factor: float = Field(default=3.0, ge=1.5, le=100)
    scope: Literal[Scope.PILE] = Scope.PILE


class DeratingRule(_Rule):
    """Delivered power well below what the pile offers, while charging, for `for_s`.

    Above `max_soc_pct` the vehicle tapers (constant-voltage phase), so that is no fault.
    """

    kind: Literal["derating"]
    ratio: float = Field(default=0.85, gt=0, lt=1)
    for_s: int = Field(default=600, ge=0, le=86_400)
    max_soc_pct: float = Field(default=80, ge=0, le=100)
    min_offered_kw: float = Field(default=1.0, ge=0)
    scope: Literal[Scope.CONNECTOR] = Scope.CONNECTOR


class MeterRule(_Rule):
    """The energy register does not move while power flows for `for_s`, or goes backwards."""

    kind: Literal["meter"]
    for_s: int = Field(default=600, ge=0, le=86_400)
    min_power_kw: float = Field(default=1.0, ge=0)
    min_step_kwh: float = Field(default=0.0005, ge=0)
    scope: Literal[Scope.CONNECTOR] = Scope.CONNECTOR


class FailedStartsRule(_Rule):
    """`count` failed session starts within `window_s` while the connector says Available:
    the pile that looks up but is not."""

    kind: Literal["failed_starts"]
    count: int = Field(default=3, ge=1, le=1000)
    window_s: int = Field(default=3600, ge=10, le=7 * 86_400)
    scope: Literal[Scope.CONNECTOR] = Scope.CONNECTOR


class FlappingRule(_Rule):
    """`count` connection losses within `window_s`."""

    kind: Literal["flapping"]
    count: int = Field(default=4, ge=2, le=1000)
    window_s: int = Field(default=3600, ge=10, le=7 * 86_400)
    scope: Literal[Scope.PILE] = Scope.PILE


class StuckSessionRule(_Rule):
    """A connector Charging for `for_s` at (almost) no power."""

    kind: Literal["stuck_session"]
    for_s: int = Field(default=2 * 3600, ge=0, le=7 * 86_400)
    max_power_kw: float = Field(default=0.1, ge=0)
    scope: Literal[Scope.CONNECTOR] = Scope.CONNECTOR


class TrendRule(_Rule):
    """Scheduled (pandas): a linear trend of an hourly metric that crosses `limit`
    within `horizon_days` predicts a failure before it happens."""

    kind: Literal["trend"]
    metric: Literal["fan_rpm", "insulation_mohm", "temp_internal_c"]
    above: bool = Field(default=False, description="true: predicts crossing upwards; false: downwards.")
    limit: float
    horizon_days: float = Field(default=21, gt=0, le=365)
    lookback_days: float = Field(default=14, gt=0, le=365)
    min_points: int = Field(default=24, ge=3)
    scope: Literal[Scope.PILE] = Scope.PILE


Rule = Annotated[Union[ErrorCodeRule, FaultedRule, ThresholdRule, OfflineRule, DeratingRule, MeterRule, FailedStartsRule,
                       FlappingRule, StuckSessionRule, TrendRule], Field(discriminator="kind")]
_RULE = TypeAdapter(Rule)
CONDITION_KINDS = (ThresholdRule, OfflineRule, DeratingRule, MeterRule, FailedStartsRule, FlappingRule,
                   StuckSessionRule)


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self):
        ids = [r.id for r in self.rules]
        codes = [(r.error_code.value, r.vendor_error_code) for r in self.rules if isinstance(r, ErrorCodeRule)]
        faulted = [r.kind for r in self.rules if isinstance(r, FaultedRule)]
        for name, values in (("rule id", ids), ("error_code/vendor_error_code", codes), ("rule kind", faulted)):
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"each {name} may appear once; repeated: {', '.join(dupes)}")
        return self

    @property
    def active(self) -> list:
        return [r for r in self.rules if r.enabled]

    def by_id(self, rule_id: str):
        return next((r for r in self.rules if r.id == rule_id), None)

    def of_kind(self, *kinds: type) -> list:
        return [r for r in self.active if isinstance(r, kinds)]

    def for_error_code(self, code: str, vendor_code: str | None = None) -> ErrorCodeRule | None:
        """The rule for a reported error: one naming the vendor code wins over a generic one."""
        generic = None
        for r in self.of_kind(ErrorCodeRule):
            if r.error_code.value != code:
                continue
            if r.vendor_error_code is None:
                generic = r
            elif r.vendor_error_code == vendor_code:
                return r
        return generic


    def for_faulted(self) -> FaultedRule | None:
        """The rule for a Faulted report without an error code a rule knows."""
        return next(iter(self.of_kind(FaultedRule)), None)


def _problems(error: ValidationError, prefix: str = "") -> str:
    problems = []
    for e in error.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        problems.append(f"{where}: {e['msg']}" if where else e["msg"])
    return "; ".join(problems)


def parse_rule(data: dict):
    """Validate one rule (API bodies); InvalidInput says what is wrong."""
    try:
        return _RULE.validate_python(data)
    except ValidationError as error:
        raise InvalidInput("invalid rule: " + _problems(error)) from error


def parse(text: str) -> RuleSet:
    """Parse and validate a YAML rule set; InvalidInput names what is wrong and where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInput(f"rule set is not valid YAML: {error}") from error
    return from_data(data)


def from_data(data) -> RuleSet:
    try:
        return RuleSet.model_validate(data)
    except ValidationError as error:
        raise InvalidInput("invalid rule set: " + _problems(error)) from error


def default() -> RuleSet:
    return parse(resources.files("maintenance.alarms").joinpath("rules.default.yaml").read_text())
