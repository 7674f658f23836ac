"""Downlink commands: recorded in `commands` first, then published to the pile.

The row exists before the message leaves, so an ack can never arrive for a command the
database does not know; ingest records the ack (ingest/store.py).

Two ways to a pile, chosen per command when it is recorded (`commands.via`):
- MQTT piles: published on `{prefix}/piles/{id}/commands` (QoS 1), `sent` at the broker's ack.
- OCPP piles — a pile with a live OCPP credential (device_credentials, protocol 'ocpp') or a
  row in ocpp_connections: nothing is published (an OCPP charger has no MQTT session to
  read it); the row stays `pending` in PostgreSQL and the OCPP gateway's command relay
  (gateway/ocpp/relay.py), woken by the `ocpp_commands` notification, delivers it as a CALL
  on the charger's connection (docs/ocpp.md, "Commands").
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import paho.mqtt.client as paho
import psycopg

from gateway.protocol import Command
from gateway.topics import Topics
from pilecare.domain import CommandType
from pilecare.errors import NotFound


def send_command(
    conn: psycopg.Connection,
    client: paho.Client,
    topics: Topics,
    pile_id: str,
    type: CommandType,
    params: dict | None = None,
    *,
    requested_by: str,
    work_order_id: int | None = None,
    timeout_s: float = 10.0,
) -> uuid.UUID:
    """Record and publish a command (QoS 1); mark it sent once the broker has it.

    For an OCPP pile (see the module doc) the command is only recorded, `pending` with
    `via = 'ocpp'`, for the OCPP gateway's relay. `work_order_id`: the order that sends it;
    its outcome goes to that order's timeline. Raises NotFound for an unknown pile."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM device_credentials WHERE pile_id = p.id AND protocol = 'ocpp' "
        "               AND revoked_at IS NULL) "
        "    OR EXISTS (SELECT 1 FROM ocpp_connections WHERE pile_id = p.id) "
        "FROM piles p WHERE p.id = %s", (pile_id,)).fetchone()
    if row is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    via = "ocpp" if row[0] else "mqtt"
    command = Command(id=uuid.uuid4(), type=type, params=params or {}, ts=datetime.now(timezone.utc))
    conn.execute(
        "INSERT INTO commands (id, pile_id, type, params, state, requested_by, via, work_order_id) "
        "VALUES (%s, %s, %s, %s, 'pending', %s, %s, %s)",
        (command.id, pile_id, type.value, json.dumps(command.params), requested_by, via, work_order_id),
    )
    if not conn.autocommit:
        conn.commit()
    if via == "ocpp":
        return command.id
    info = client.publish(topics.commands(pile_id), command.model_dump_json(), qos=1)
    info.wait_for_publish(timeout_s)
    state = "sent" if info.is_published() else "failed"
    conn.execute(
        "UPDATE commands SET state = %s, sent_at = now() WHERE id = %s AND state = 'pending'", (state, command.id)
    )
    if not conn.autocommit:
        conn.commit()
    return command.id


def expire_commands(conn: psycopg.Connection, older_than_s: float = 300) -> int:
    """MQTT commands never acknowledged within `older_than_s` become timed_out.

    OCPP commands are left to the relay (gateway/ocpp/relay.py), which knows whether a CALL
    is still in flight and keeps undelivered ones queued for its own `queue_ttl_s`."""
    return conn.execute(
        "UPDATE commands SET state = 'timed_out', ended_at = now() WHERE state IN ('pending', 'sent') "
        "AND via IS DISTINCT FROM 'ocpp' AND requested_at < now() - make_interval(secs => %s)",
        (older_than_s,),
    ).rowcount


class Downlink:
    """A long-lived publisher of commands for a service process (maintenance).

    Connects on first use; paho reconnects by itself after that.
    """

    def __init__(self, settings, client_id: str):
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.client_id = client_id
        self._client: paho.Client | None = None

    def _connected(self) -> paho.Client:
        if self._client is None:
            from gateway import mqtt

            client = mqtt.client(self.settings.mqtt(), self.client_id)
            mqtt.connect(client, self.settings.mqtt(), persistent=False)
            client.loop_start()
            self._client = client
        return self._client

    def send(self, conn: psycopg.Connection, pile_id: str, type: CommandType, params: dict | None = None, *,
             requested_by: str, work_order_id: int | None = None) -> uuid.UUID:
        """`send_command` on this process's connection (see there)."""
        return send_command(conn, self._connected(), self.topics, pile_id, type, params, requested_by=requested_by,
                            work_order_id=work_order_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
