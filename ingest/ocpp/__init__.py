"""OCPP chargers through ingest: the envelopes the OCPP gateway publishes on
`{prefix}/piles/{id}/ocpp` mapped onto the rows an MQTT pile's messages become, so rules,
alarms, work orders and KPIs work unchanged (issue 15, item 3; docs/ocpp.md, "From OCPP
to pilecare").

- envelope: one envelope → an OcppMessage (telemetry rows, pile events, reported identity)
  or a dead letter naming the action and the field;
- actions: what each OCPP 1.6 and 2.0.1 action maps to;
- meter: OCPP sampled values → pilecare's measurements and units.
"""
from ingest.ocpp import actions  # noqa: F401  (registers the handlers with envelope.on)
from ingest.ocpp.envelope import OCPP_SEQ_MAX, Identity, OcppDecoder, OcppMessage

__all__ = ["OCPP_SEQ_MAX", "Identity", "OcppDecoder", "OcppMessage"]
