"""The OCPP central system (`pilecare ocpp`): OCPP 1.6-J and 2.0.1 chargers over WebSocket.

A protocol adapter (docs/ocpp.md): it authenticates chargers at the handshake, answers their
CALLs and hands every CALL to ingest through the broker (topic `{prefix}/piles/{id}/ocpp`,
the envelope of docs/ocpp.md). It never writes telemetry itself.

Modules: `server` (the WebSocket server and each connection's life), `auth` (HTTP Basic at
the handshake), `charger` (one connection: routing, errors, answers; the `Session`),
`handlers16` / `handlers201` (the messages answered), `envelope` (what is published),
`publisher` (paho QoS 1 bridged to asyncio), `store` (what is shared in PostgreSQL),
`batch` (a storm's database calls in few statements), `session` (what a connection offers
others, e.g. the command relay).
"""
