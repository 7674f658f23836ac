"""Rules as data: a YAML rule set, validated with clear errors."""
from __future__ import annotations

from enum import Enum
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pilecare.domain import ErrorCode
from pilecare.errors import InvalidInput


class Severity(str, Enum):
    """Alarm severity, most severe first."""

    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    WARNING = "warning"


class ErrorCodeRule(BaseModel):
    """An OCPP error code reported by a connector raises an alarm while it lasts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z][A-Za-z0-9._-]{0,63}$")
    kind: Literal["error_code"]
    error_code: ErrorCode
    category: str = Field(min_length=1, max_length=40)
    severity: Severity
    safety: bool = False
    work_order: bool = True

    @model_validator(mode="after")
    def _not_no_error(self):
        if self.error_code is ErrorCode.NO_ERROR:
            raise ValueError("NoError is the absence of a fault and cannot raise an alarm")
        return self


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[ErrorCodeRule]

    @model_validator(mode="after")
    def _unique(self):
        ids = [r.id for r in self.rules]
        codes = [r.error_code for r in self.rules]
        for name, values in (("rule id", ids), ("error_code", codes)):
            dupes = sorted({str(getattr(v, "value", v)) for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"each {name} may appear once; repeated: {', '.join(dupes)}")
        return self

    def for_error_code(self, code: str) -> ErrorCodeRule | None:
        return next((r for r in self.rules if r.error_code.value == code), None)


def parse(text: str) -> RuleSet:
    """Parse and validate a YAML rule set; InvalidInput names what is wrong and where."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidInput(f"rule set is not valid YAML: {error}") from error
    try:
        return RuleSet.model_validate(data)
    except ValidationError as error:
        problems = []
        for e in error.errors(include_url=False, include_input=False)[:5]:
            where = ".".join(str(p) for p in e["loc"])
            problems.append(f"{where}: {e['msg']}")
        raise InvalidInput("invalid rule set: " + "; ".join(problems)) from error


def default() -> RuleSet:
    return parse(resources.files("maintenance").joinpath("rules.default.yaml").read_text())
