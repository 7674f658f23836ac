"""OCPP sampled values → pilecare's measurements, in pilecare's units.

One OCPP MeterValue (a timestamp and its sampledValue list; OCPP 1.6 section 7.43, 2.0.1
MeterValueType) becomes one `Sample`: the measurements pilecare keeps, per place. What is
kept and how (docs/ocpp.md, "From OCPP to pilecare"):

- measurands: Energy.Active.Import.Register → energy_kwh, Power.Active.Import → power_kw,
  Power.Offered → power_offered_kw, Voltage → voltage_v, Current.Import → current_a,
  Current.Offered → current_offered_a, Temperature → temp_c, SoC → soc_pct. A sampled value
  without `measurand` is Energy.Active.Import.Register (both versions' default). Others
  (reactive energy, frequency, …) are not stored.
- units: Wh → kWh (÷1000), W → kW (÷1000), kWh and kW kept, V, A, Percent; temperatures in
  Celsius (Fahrenheit and K converted). Without a unit, the measurand's default (Wh, W, V,
  A, Celsius, Percent). 2.0.1's unitOfMeasure.multiplier scales by 10^multiplier first.
- phases: a value without `phase` is the total and wins. Without one, energy and power are
  the sum of the phases L1, L2, L3 (L1-N read as L1), currents the highest phase (the phase
  that limits), voltages the mean of the phase-to-neutral values (else of L1-L2 …).
- location: Temperature at Body is the pile's cabinet (connector 0), any other location
  (Outlet, Cable, EV, Inlet) the connector's.
- a value that is no finite number (SignedData, "abc"), in a unit that does not fit its
  measurand, or outside the range the MQTT contract allows its column (gateway/protocol.py:
  5000 °C, -3 kWh, 10^400 V) is left out and noted.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from annotated_types import Ge, Le

from gateway.protocol import ConnectorReading


class Measurand(str, Enum):
    """The OCPP measurands pilecare stores (OCPP 1.6 section 7.31, 2.0.1 MeasurandEnumType)."""

    ENERGY = "Energy.Active.Import.Register"
    POWER = "Power.Active.Import"
    POWER_OFFERED = "Power.Offered"
    VOLTAGE = "Voltage"
    CURRENT = "Current.Import"
    CURRENT_OFFERED = "Current.Offered"
    TEMPERATURE = "Temperature"
    SOC = "SoC"


# measurand → (telemetry column, default unit, how phases combine)
_COLUMNS = {
    Measurand.ENERGY: ("energy_kwh", "Wh", "sum"),
    Measurand.POWER: ("power_kw", "W", "sum"),
    Measurand.POWER_OFFERED: ("power_offered_kw", "W", "sum"),
    Measurand.VOLTAGE: ("voltage_v", "V", "mean"),
    Measurand.CURRENT: ("current_a", "A", "max"),
    Measurand.CURRENT_OFFERED: ("current_offered_a", "A", "max"),
    Measurand.TEMPERATURE: ("temp_c", "Celsius", "max"),
    Measurand.SOC: ("soc_pct", "Percent", "max"),
}
# unit (case-insensitive) → value in pilecare's unit, per measurand family
_ENERGY = {"wh": lambda v: v / 1000, "kwh": lambda v: v}
_POWER = {"w": lambda v: v / 1000, "kw": lambda v: v}
_UNITS = {
    Measurand.ENERGY: _ENERGY,
    Measurand.POWER: _POWER,
    Measurand.POWER_OFFERED: _POWER,
    Measurand.VOLTAGE: {"v": lambda v: v},
    Measurand.CURRENT: {"a": lambda v: v},
    Measurand.CURRENT_OFFERED: {"a": lambda v: v},
    Measurand.TEMPERATURE: {"celsius": lambda v: v, "celcius": lambda v: v, "fahrenheit": lambda v: (v - 32) * 5 / 9,
                            "k": lambda v: v - 273.15},
    Measurand.SOC: {"percent": lambda v: v},
}
_MEASURANDS = {m.value: m for m in Measurand}


def _limits(column: str) -> tuple[float, float]:
    """The range the MQTT contract allows a measurement (gateway/protocol.py,
    ConnectorReading): a value outside it cannot be true, and beyond PostgreSQL's `real` it
    would lose the whole message (a session's end with it)."""
    metadata = ConnectorReading.model_fields[column].metadata
    return (next(m.ge for m in metadata if isinstance(m, Ge)), next(m.le for m in metadata if isinstance(m, Le)))


_LIMITS = {column: _limits(column) for column, _, _ in _COLUMNS.values()}
_LINES = ("L1", "L2", "L3")
PILE_LOCATION = "Body"  # OCPP location of the pile's own (cabinet) temperature


@dataclass(slots=True)
class Sample:
    """The measurements of one OCPP MeterValue: `connector` for the connector the message
    names, `pile` for connector 0 (the cabinet temperature). Units as the telemetry columns."""

    connector: dict[str, float] = field(default_factory=dict)
    pile: dict[str, float] = field(default_factory=dict)


def sample(sampled_values: list, version: str, notes: list[str]) -> Sample:
    """The measurements in one MeterValue's sampledValue list (`version` "1.6" or "2.0.1");
    what is left out is explained in `notes`."""
    # (place, measurand) → {"total": [values], phase: value}
    seen: dict[tuple[str, Measurand], dict] = {}
    for i, sv in enumerate(sampled_values):
        if not isinstance(sv, dict):
            notes.append(f"sampledValue[{i}]: not an object; left out")
            continue
        name = sv.get("measurand") or Measurand.ENERGY.value
        measurand = _MEASURANDS.get(name)
        if measurand is None:
            continue  # a measurand pilecare does not keep: nothing to note
        if sv.get("format") == "SignedData":
            continue  # the signed form of a value the charger usually also sends raw
        value = _number(sv.get("value"))
        if value is None:
            notes.append(f"sampledValue[{i}] {name}: value {sv.get('value')!r} is not a number; left out")
            continue
        unit, value = _unit(sv, version, value, measurand)
        convert = _UNITS[measurand].get(unit.lower())
        if convert is None:
            notes.append(f"sampledValue[{i}] {name}: unit {unit!r} does not fit; left out")
            continue
        column = _COLUMNS[measurand][0]
        low, high = _LIMITS[column]
        if not low <= convert(value) <= high:  # NaN and infinities compare False too
            notes.append(f"sampledValue[{i}] {name}: {sv.get('value')!r} {unit} is outside {low}..{high} "
                         f"({column}); left out")
            continue
        place = "pile" if measurand is Measurand.TEMPERATURE and sv.get("location") == PILE_LOCATION else "connector"
        slot = seen.setdefault((place, measurand), {"total": []})
        phase = sv.get("phase")
        if phase:
            slot[phase] = convert(value)
        else:
            slot["total"].append(convert(value))
    result = Sample()
    for (place, measurand), slot in seen.items():
        combined = _combine(slot, _COLUMNS[measurand][2])
        if combined is not None:
            getattr(result, place)[_COLUMNS[measurand][0]] = combined
    return result


def _unit(sv: dict, version: str, value: float, measurand: Measurand) -> tuple[str, float]:
    """(unit, value scaled by 2.0.1's multiplier)."""
    default = _COLUMNS[measurand][1]
    if version == "1.6":
        return sv.get("unit") or default, value
    uom = sv.get("unitOfMeasure") or {}
    multiplier = uom.get("multiplier") or 0
    if isinstance(multiplier, int) and not isinstance(multiplier, bool) and multiplier:
        # A float power: the schema does not bound the multiplier, and an int 10 ** 10**10
        # would hold ingest's decoding for ever. Too large a power is infinite (left out).
        try:
            value = value * 10.0 ** multiplier
        except OverflowError:
            value = math.inf
    return uom.get("unit") or default, value


def _combine(slot: dict, how: str) -> float | None:
    if slot["total"]:
        return slot["total"][-1]
    per_line = {}
    for line in _LINES:
        for spelling in (line, f"{line}-N"):
            if spelling in slot:
                per_line[line] = slot[spelling]
                break
    if how == "mean":
        values = list(per_line.values()) or [v for k, v in slot.items() if k != "total" and k != "N"]
        return sum(values) / len(values) if values else None
    if not per_line:
        return None
    return sum(per_line.values()) if how == "sum" else max(per_line.values())


def _number(value) -> float | None:
    """A finite number: 2.0.1 sends numbers, 1.6 decimal text ("1234.5")."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
