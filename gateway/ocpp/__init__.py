"""The OCPP central system (`pilecare ocpp`): OCPP 1.6-J and 2.0.1 chargers over WebSocket.

A protocol adapter (docs/ocpp.md): it authenticates chargers at the handshake, answers their
CALLs and hands every CALL to ingest through the broker (topic `{prefix}/piles/{id}/ocpp`,
the envelope of docs/ocpp.md). It never writes telemetry itself.

Modules: `session` (what a connection offers others, e.g. the command relay), `auth`
(HTTP Basic at the handshake), `envelope` (what is published), `publisher` (paho QoS 1
bridged to asyncio), `connections` (which connection speaks for a charger, in PostgreSQL),
`handlers` (the OCPP messages answered), `server` (the WebSocket server).
"""
