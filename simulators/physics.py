"""One simulated pile: demand, charging sessions with CC/CV taper, temperatures, energy.

Physics time advances in simulated seconds (the runner scales wall time by --speed);
message timestamps are the wall clock, so stored data stays plausible. So does the energy
register: it counts at the wall clock's rate (`meter_scale`, 1/speed), so the energy between
two messages is what the reported power delivers between their timestamps. A register
counting the simulated hours would show a 120 kW charger delivering 3.6 MW at 30×, which the
platform rightly distrusts (migration 0025's walk) and a meter rule may take for a fault.
"""
from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field

from simulators.faults import OVERHEAT_C, FaultKind
from simulators.fleetgen import SimPileSpec

# Relative session arrivals per hour of day (AC: homes and workplaces; DC: daytime travel).
AC_DEMAND = [0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.0, 0.8, 0.6, 0.5, 0.5, 0.5, 0.5, 0.6, 0.8, 1.0, 1.0, 0.9, 0.8, 0.6, 0.5, 0.4]
DC_DEMAND = [0.1, 0.05, 0.05, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.0, 1.0, 0.9, 0.9, 1.0, 1.0, 1.0, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2]


@dataclass
class Session:
    capacity_kwh: float
    soc: float
    target_soc: float
    ev_max_kw: float
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    meter_start_kwh: float = 0.0


@dataclass
class Connector:
    id: int
    status: str = "Available"
    error_code: str = "NoError"
    vendor_error_code: str | None = None
    session: Session | None = None
    energy_kwh: float = 0.0
    power_kw: float = 0.0
    temp_c: float = 20.0
    plug_cycles: int = 0
    steps_in_status: int = 0


class PileModel:
    def __init__(self, spec: SimPileSpec, rng: random.Random, meter_scale: float = 1.0):
        self.spec = spec
        self.meter_scale = meter_scale  # register kWh per simulated kWh: 1/speed (module docstring)
        self.rng = rng
        self.dc = spec.kind == "DC"
        self.per_connector_kw = spec.rated_power_kw if self.dc else min(spec.rated_power_kw, 22.0)
        self.connectors = [Connector(i + 1, energy_kwh=rng.uniform(500, 40_000)) for i in range(spec.connectors)]
        self.seq = rng.randint(1, 50_000)
        self.sim_time = rng.uniform(0, 86_400)  # seconds since a simulated midnight
        self.ambient_base = 22.0 if "hot" in spec.environment else 2.0 if "cold" in spec.environment else 12.0
        self.temp_internal = self.ambient()
        self.fan_rpm = 1200.0
        self.faults: dict[FaultKind, dict] = {}
        self.events: list[dict] = []  # pending events to publish
        self.derate = 1.0
        self.inoperative = False  # taken out of service by ChangeAvailability

    # --- environment -----------------------------------------------------------
    def ambient(self) -> float:
        hour = (self.sim_time / 3600) % 24
        return self.ambient_base + 6 * math.sin((hour - 9) / 24 * 2 * math.pi)

    def event(self, kind: str, connector_id: int | None = None, **data) -> None:
        self.events.append({"type": kind, "connector_id": connector_id, "data": data})

    # --- faults ----------------------------------------------------------------
    def inject(self, kind: FaultKind, connector_id: int | None = None) -> None:
        connector_id = connector_id or self.rng.randint(1, len(self.connectors))
        self.faults[kind] = {"connector": connector_id}
        c = self.connectors[connector_id - 1]
        if kind is FaultKind.GROUND_FAULT:
            self._fault(c, "GroundFailure")
        elif kind is FaultKind.CONNECTOR_LOCK:
            self._fault(c, "ConnectorLockFailure")
        elif kind is FaultKind.EMERGENCY_STOP:
            for k in self.connectors:
                self._stop_session(k, "EmergencyStop")
                k.status, k.error_code, k.vendor_error_code = "Unavailable", "OtherError", "EStop"
            self.event("emergency_stop", 0)
        elif kind is FaultKind.DERATING:
            self.derate = 0.8

    def clear(self, kind: FaultKind | None = None) -> list[FaultKind]:
        cleared = [k for k in self.faults if kind is None or k is kind]
        for k in cleared:
            self.faults.pop(k)
            if k is FaultKind.EMERGENCY_STOP:
                self.event("emergency_stop_released", 0)
            if k is FaultKind.DERATING:
                self.derate = 1.0
            if k is FaultKind.FAN_FAILURE:
                self.temp_internal = self.ambient() + 5
                for c in self.connectors:
                    c.temp_c = min(c.temp_c, self.ambient() + 10)
        for c in self.connectors:
            if c.status in ("Faulted", "Unavailable") and not self._connector_fault(c):
                c.status = "Unavailable" if self.inoperative else "Available"
                c.error_code, c.vendor_error_code = "NoError", None
        return cleared

    def _connector_fault(self, c: Connector) -> bool:
        return any(k is FaultKind.EMERGENCY_STOP or (k in (FaultKind.GROUND_FAULT, FaultKind.CONNECTOR_LOCK,
                   FaultKind.FAN_FAILURE) and v["connector"] == c.id) for k, v in self.faults.items())

    def _fault(self, c: Connector, code: str) -> None:
        self._stop_session(c, code)
        c.status, c.error_code = "Faulted", code
        self.event("fault", c.id, error_code=code)

    def _stop_session(self, c: Connector, reason: str) -> None:
        if c.session:
            self.event("session_stopped", c.id, session_id=c.session.id, reason=reason,
                       energy_kwh=round(c.energy_kwh - c.session.meter_start_kwh, 3))
            c.session = None
        c.power_kw = 0.0

    # --- one step ----------------------------------------------------------------
    def step(self, dt: float) -> None:
        """Advance `dt` simulated seconds."""
        self.sim_time += dt
        hours = dt / 3600
        demand = (DC_DEMAND if self.dc else AC_DEMAND)[int(self.sim_time / 3600) % 24]
        arrivals_per_hour = (0.6 if self.dc else 0.15) * demand * (1.5 if "heavy_use" in self.spec.environment else 1)
        ambient = self.ambient()
        heat = 0.0
        for c in self.connectors:
            c.steps_in_status += 1
            if c.status == "Available" and self.rng.random() < arrivals_per_hour * hours:
                self._arrive(c)
            elif c.status == "Preparing":
                self._set(c, "Charging")
            elif c.status == "Charging":
                self._charge(c, hours)
            elif c.status == "SuspendedEV" and c.steps_in_status >= 2:
                self._stop_session(c, "EVDisconnected")
                self._set(c, "Finishing")
            elif c.status == "Finishing":
                self.event("connector_unplugged", c.id)
                self._set(c, "Available")
            heat += c.power_kw
            # Cable/contact heating grows with the square of the current.
            load = c.power_kw / self.per_connector_kw if self.per_connector_kw else 0
            target = ambient + 8 + 45 * load * load
            c.temp_c += (target - c.temp_c) * min(1.0, dt / 600)
        load = heat / self.spec.rated_power_kw
        fan_ok = FaultKind.FAN_FAILURE not in self.faults
        self.fan_rpm = (1200 + 2800 * load) if fan_ok else 0.0
        cooling = 1.0 if fan_ok else 0.15
        target = ambient + 6 + (25 * load + (12 if self.dc else 2)) / cooling
        self.temp_internal += (target - self.temp_internal) * min(1.0, dt / 900)
        if not fan_ok and self.temp_internal >= OVERHEAT_C:
            for c in self.connectors:
                if c.status != "Faulted":
                    self._fault(c, "HighTemperature")

    def _set(self, c: Connector, status: str) -> None:
        c.status, c.steps_in_status = status, 0

    def _arrive(self, c: Connector) -> None:
        if FaultKind.FAILED_STARTS in self.faults and self.faults[FaultKind.FAILED_STARTS]["connector"] == c.id:
            # The pile keeps saying Available: the failure is only visible in events.
            self.event("session_start_failed", c.id, reason=self.rng.choice(["EVCommunicationError", "Timeout"]))
            return
        capacity = self.rng.choice([40.0, 58.0, 77.0, 100.0])
        ev_max = self.rng.choice([7.4, 11.0, 22.0]) if not self.dc else self.rng.uniform(50, 270)
        session = Session(capacity, self.rng.uniform(10, 50), self.rng.uniform(80, 100), ev_max, meter_start_kwh=c.energy_kwh)
        c.session = session
        c.plug_cycles += 1
        self.event("connector_plugged", c.id)
        self.event("session_started", c.id, session_id=session.id, meter_start_kwh=round(c.energy_kwh, 3))
        self._set(c, "Preparing")

    def offered_kw(self, c: Connector) -> float:
        """OCPP Power.Offered: what the pile offers this vehicle (its own limit or the EV's)."""
        return min(self.per_connector_kw, c.session.ev_max_kw) if c.session else self.per_connector_kw

    def plug_in(self, connector_id: int) -> None:
        """A driver plugs in now (tests and demos; normally arrivals are random)."""
        c = self.connectors[connector_id - 1]
        if c.status == "Available":
            self._arrive(c)

    def _charge(self, c: Connector, hours: float) -> None:
        s = c.session
        cc = self.offered_kw(c)
        # Constant current up to ~80 % state of charge, then a constant-voltage taper.
        power = cc if s.soc < 80 else max(1.0, cc * (100 - s.soc) / 20)
        fault = self.faults.get(FaultKind.DERATING)
        if fault and fault["connector"] == c.id:
            self.derate = max(0.25, self.derate - 0.05 * hours * 10)  # worsens over simulated hours
            power *= self.derate
        c.power_kw = power
        energy = power * hours
        meter = self.faults.get(FaultKind.METER_FAILURE)
        if not (meter and meter["connector"] == c.id):
            c.energy_kwh += energy * self.meter_scale
        s.soc = min(100.0, s.soc + energy / s.capacity_kwh * 100)
        if s.soc >= s.target_soc:
            c.power_kw = 0.0
            self._set(c, "SuspendedEV")

    # --- messages ----------------------------------------------------------------
    def telemetry(self, ts: str) -> dict:
        self.seq += 1
        connectors = []
        for c in self.connectors:
            if self.dc:
                voltage = 360 + (c.session.soc * 1.4 if c.session else 0) if c.power_kw else 0.0
                current = c.power_kw * 1000 / voltage if voltage else 0.0
            else:
                voltage = 400.0 + self.rng.uniform(-4, 4)
                current = c.power_kw * 1000 / (math.sqrt(3) * voltage)
            reading = {
                "id": c.id, "status": c.status, "error_code": c.error_code,
                "voltage_v": round(voltage, 1), "current_a": round(current, 2), "power_kw": round(c.power_kw, 3),
                "power_offered_kw": round(self.offered_kw(c), 1), "energy_kwh": round(c.energy_kwh, 3),
                "temp_c": round(c.temp_c, 1),
            }
            if c.vendor_error_code:
                reading["vendor_error_code"] = c.vendor_error_code
            if c.session:
                reading["soc_pct"] = round(c.session.soc, 1)
            connectors.append(reading)
        body = {"v": 1, "ts": ts, "seq": self.seq, "connectors": connectors,
                "temp_internal_c": round(self.temp_internal, 1), "ambient_c": round(self.ambient(), 1),
                "fan_rpm": round(self.fan_rpm)}
        if self.dc:
            body["insulation_mohm"] = round(self.rng.uniform(400, 600), 1)
        if FaultKind.EMERGENCY_STOP in self.faults:
            body.update(status="Unavailable", error_code="OtherError", vendor_error_code="EStop")
        return body
