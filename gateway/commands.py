"""Downlink commands: recorded in `commands` first, then published to the pile.

The row exists before the message leaves, so an ack can never arrive for a command the
database does not know; ingest records the ack (ingest/store.py).
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
    timeout_s: float = 10.0,
) -> uuid.UUID:
    """Record and publish a command (QoS 1); mark it sent once the broker has it."""
    if conn.execute("SELECT 1 FROM piles WHERE id = %s", (pile_id,)).fetchone() is None:
        raise NotFound(f"pile {pile_id!r} does not exist")
    command = Command(id=uuid.uuid4(), type=type, params=params or {}, ts=datetime.now(timezone.utc))
    conn.execute(
        "INSERT INTO commands (id, pile_id, type, params, state, requested_by) VALUES (%s, %s, %s, %s, 'pending', %s)",
        (command.id, pile_id, type.value, json.dumps(command.params), requested_by),
    )
    if not conn.autocommit:
        conn.commit()
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
    """Commands never acknowledged within `older_than_s` become timed_out."""
    return conn.execute(
        "UPDATE commands SET state = 'timed_out' WHERE state IN ('pending', 'sent') "
        "AND requested_at < now() - make_interval(secs => %s)",
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
             requested_by: str) -> uuid.UUID:
        return send_command(conn, self._connected(), self.topics, pile_id, type, params, requested_by=requested_by)

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
