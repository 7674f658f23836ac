"""The maintenance policy: how alarms become work orders and how fast they must move.

Rules say what is wrong; the policy says what the service organisation does about it:
priorities, SLA clocks per severity and customer tier (R-RESPONSE), remote first line
(R-TRIAGE), verification, repeat repairs (R-NO-REPEAT) and safety (R-REPAIR).
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pilecare.domain import CustomerTier
from pilecare.errors import InvalidInput
from pilecare.domain import Severity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlaTarget(_Strict):
    response_h: float = Field(gt=0, description="An engineer has accepted, or the order is resolved.")
    resolve_h: float = Field(gt=0, description="The pile works again (order resolved).")


class Sla(_Strict):
    targets: dict[Severity, SlaTarget]
    safety: SlaTarget
    # Platinum customers bought faster service: their clocks are scaled by this factor.
    tier_factor: dict[CustomerTier, float] = Field(default_factory=lambda: {t: 1.0 for t in CustomerTier})
    warn_at: float = Field(default=0.75, gt=0, lt=1, description="Share of the window after which a warning goes out.")


class Triage(_Strict):
    categories: list[str] = Field(default_factory=list, description="Fault categories that get a remote reset first.")
    attempts: int = Field(default=2, ge=0, le=10)
    wait_s: int = Field(default=300, ge=1, le=86_400, description="How long to wait for recovery after a reset.")
    reset_type: str = Field(default="Soft", pattern="^(Soft|Hard)$")


class Pricing(_Strict):
    """Rates for quotes outside warranty (R-WARRANTY)."""

    labour_per_h: float = Field(default=85.0, ge=0)
    travel_per_km: float = Field(default=0.9, ge=0)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")


class DeskClock(_Strict):
    """A request's two clocks for one customer tier (R-RESPONSE)."""

    response_h: float = Field(gt=0, description="First response to the customer (R-RESPONSE: 24 h at most).")
    resolve_h: float = Field(gt=0, description="The request resolved: answered, or its job done.")


class Desk(_Strict):
    """The service desk's promises and limits (issue 13)."""

    clocks: dict[CustomerTier, DeskClock] = Field(default_factory=lambda: {
        CustomerTier.PLATINUM: DeskClock(response_h=4, resolve_h=48),
        CustomerTier.GOLD: DeskClock(response_h=8, resolve_h=72),
        CustomerTier.STANDARD: DeskClock(response_h=24, resolve_h=120)})
    follow_up_days: float = Field(default=3, ge=0, le=90,
                                  description="A finished job or resolved request is followed up this long after "
                                              "(R-FOLLOWUP).")
    mail_per_sender_per_h: int = Field(default=20, ge=1, le=100_000,
                                       description="Inbound mails one sender may send in an hour before the rest "
                                                   "go to quarantine (a mail loop must not open requests).")
    phone_region: str = Field(default="DE", pattern="^[A-Z]{2}$",
                              description="Where a caller's national number (no +country code) is read from.")

    @field_validator("clocks")
    @classmethod
    def _every_tier(cls, clocks: dict) -> dict:
        missing = [t.value for t in CustomerTier if t not in clocks]
        if missing:
            raise ValueError(f"desk clocks missing for tier(s) {', '.join(missing)}")
        for tier, clock in clocks.items():
            if clock.response_h > 24:
                raise ValueError(f"desk clocks: {tier.value} response_h {clock.response_h} is over the 24 h R-RESPONSE allows")
        return clocks

    def clock_for(self, tier: str | None) -> DeskClock:
        """The clocks of a customer tier (standard when the tier is unknown)."""
        return self.clocks[CustomerTier(tier) if tier in CustomerTier._value2member_map_ else CustomerTier.STANDARD]


class Reports(_Strict):
    """Management reports (R-KPI): when the scheduled ones are produced and who gets them."""

    due_day: int = Field(default=5, ge=1, le=28,
                         description="Last month's service report (and, after a quarter, its fault analysis) is "
                                     "produced on this day of the month, once (R-KPI: by the 5th).")
    recipients: list[str] = Field(default_factory=list, max_length=100,
                                  description="E-mail addresses the scheduled reports are mailed to (a link to "
                                              "download them after logging in).")

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, recipients: list[str]) -> list[str]:
        for address in recipients:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", address):
                raise ValueError(f"reports.recipients: {address!r} is not an e-mail address")
        return recipients


class Reorder(_Strict):
    """Reorder planning's settings (R-PARTS, docs/parts.md "Reorder planning")."""

    window_weeks: int = Field(default=52, ge=4, le=520, description="Weeks of issues the forecast reads.")
    min_history_weeks: int = Field(default=8, ge=2, le=520,
                                   description="Fewer weeks of history (or fewer than 2 weeks with any issue) and "
                                               "the classical mean is used instead of TSB.")
    alpha_d: float = Field(default=0.2, gt=0, le=1, description="TSB's smoothing of the demand size.")
    alpha_p: float = Field(default=0.1, gt=0, le=1, description="TSB's smoothing of the probability of demand.")
    service_level: float = Field(default=0.95, gt=0.5, lt=1,
                                 description="Chance of not running out during a lead time (cycle service level).")
    default_lead_time_days: int = Field(default=14, ge=0, le=365,
                                        description="A warehouse's lead time for a part no supplier lists.")
    van_lead_time_days: int = Field(default=7, ge=0, le=365,
                                    description="A van's lead time: restocked from its home warehouse weekly.")
    review_days: int = Field(default=28, ge=1, le=365,
                             description="The order quantity covers this many days of forecast demand.")


class Policy(_Strict):
    clear_after_s: int = Field(default=60, ge=0, le=86_400,
                               description="Default hold-off before a clear counts: a fault that returns within it "
                                           "stays one alarm (flapping suppression).")
    priority: dict[Severity, int]
    tier_boost: dict[CustomerTier, int] = Field(default_factory=dict)
    sla: Sla
    triage: Triage
    verify_s: int = Field(default=1800, ge=0, le=30 * 86_400,
                          description="A resolved pile must stay healthy this long before the order is verified.")
    repeat_days: int = Field(default=30, ge=1, le=365)
    planned_lead_h: float = Field(default=48, ge=0, le=60 * 24,
                                  description="Planned work (preventive, inspection, installation) goes to dispatch "
                                              "this long before it is due.")
    safety_out_of_service: bool = True
    command_settle_s: int = Field(
        default=120, ge=0, le=3600,
        description="No automatic command (remote reset, out of service) reaches a pile until it has been online "
                    "this long since its last (re)connect or boot: a command straight into a boot can feed a "
                    "reboot loop. A due command waits; it is not dropped.")
    command_ack_timeout_s: int = Field(
        default=300, ge=1, le=86_400,
        description="An MQTT command the pile has not acknowledged this long after it was requested is recorded "
                    "timed_out and its work order's timeline says so; a late ack still counts and is noted too. "
                    "OCPP commands keep the gateway relay's own clocks (docs/ocpp.md).")
    pricing: Pricing = Pricing()
    desk: Desk = Desk()
    reports: Reports = Reports()
    reorder: Reorder = Reorder()
    # An engineer "arrives" only within this distance of the pile (or its site).
    arrival_radius_m: float = Field(default=500, gt=0, le=50_000)
    # The fastest an engineer's van plausibly moves, door to door: faster between two fixes,
    # or over the whole trip since setting off, flags the arrival (issue 12, item 2).
    arrival_max_speed_kmh: float = Field(default=150, gt=0, le=100_000)
    # Causes the maker answers for within warranty (R-WARRANTY); wear, misuse and
    # external damage are charged.
    warranty_causes: list[str] = Field(default_factory=lambda: ["design", "manufacture", "installation", "material"])
    related_categories: list[list[str]] = Field(
        default_factory=list,
        description="Groups of fault categories that are one fault on one pile (an overheating caused by a stopped "
                    "fan): an alarm of one joins the pile's open corrective order of another, so one fault makes "
                    "one visit (issue 12, item 4). A category belongs to one group at most.")

    @field_validator("related_categories")
    @classmethod
    def _one_group_each(cls, groups: list[list[str]]) -> list[list[str]]:
        seen: set[str] = set()
        for group in groups:
            if len(group) < 2:
                raise ValueError(f"a group of related categories needs two or more, got {group}")
            twice = seen & set(group)
            if twice:
                raise ValueError(f"category {sorted(twice)[0]!r} is in more than one group of related categories")
            seen |= set(group)
        return groups

    def related(self, category: str) -> list[str]:
        """The other categories that are the same fault as `category` on one pile ([] if none)."""
        for group in self.related_categories:
            if category in group:
                return [c for c in group if c != category]
        return []

    def priority_for(self, severity: Severity, tier: str | None, safety: bool) -> int:
        if safety:
            return 1
        p = self.priority[severity] - self.tier_boost.get(CustomerTier(tier) if tier else CustomerTier.STANDARD, 0)
        return max(1, min(5, p))

    def sla_for(self, severity: Severity, tier: str | None, safety: bool) -> tuple[float, float]:
        """(response hours, resolve hours) for an order."""
        target = self.sla.safety if safety else self.sla.targets[severity]
        factor = self.sla.tier_factor.get(CustomerTier(tier) if tier else CustomerTier.STANDARD, 1.0)
        return target.response_h * factor, target.resolve_h * factor


def parse(text: str) -> Policy:
    try:
        return Policy.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as error:
        raise InvalidInput(f"invalid maintenance policy: {error}") from error


def load(path: str | None = None) -> Policy:
    if path:
        return parse(Path(path).read_text())
    return parse(resources.files("maintenance").joinpath("policy.default.yaml").read_text())
