"""The ingest worker: MQTT (QoS 1, persistent shared-subscription session) → Store.

Threads: paho's network loop receives into an inbox; the main thread takes batches,
writes each in one transaction and only then acknowledges its messages (manual acks).
A crash at any point loses nothing: unacknowledged messages are redelivered by the
broker and the idempotent merge stores them once.
"""
from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
from collections import deque

import psycopg
from paho.mqtt.client import MQTTMessage
from paho.mqtt.subscribeoptions import SubscribeOptions

from gateway import mqtt
from gateway.topics import Topics
from ingest.decode import DeadLetter, Decoder, Inbound
from ingest.housekeeping import Housekeeping
from ingest.store import BatchResult, Store
from pilecare.db import database_url
from pilecare.settings import Settings

log = logging.getLogger(__name__)

# Errors after which the same batch is simply tried again: the database is away or two
# workers collided. Anything else is about the data and is isolated message by message.
_RETRYABLE = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
)


class IngestWorker:
    def __init__(self, settings: Settings, *, client_id: str | None = None, housekeeping: bool = True):
        self.settings = settings
        self.client_id = client_id or settings.ingest_client_id
        self.topics = Topics(settings.topic_prefix)
        self.decoder = Decoder(settings)
        self.inbox: deque[Inbound] = deque()
        self.inbox_limit = settings.ingest_receive_maximum
        self.room = threading.Event()  # set when the writer has taken messages from a full inbox
        self.wake = threading.Event()
        self.stop_event = threading.Event()
        self.subscribed = threading.Event()
        self.generation = 0
        self.totals = BatchResult()
        self.timing = {"decode": 0.0, "write": 0.0, "ack": 0.0, "batches": 0}
        # At most two decoded batches wait for the writer: bounded memory, and the
        # broker's receive-maximum holds the rest.
        self.decoded: queue.Queue = queue.Queue(maxsize=2)
        self.housekeeping = Housekeeping(settings) if housekeeping else None
        self._store: Store | None = None
        self._client = None

    # --- MQTT side (paho's thread) -------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused connection: %s", reason_code)
            return
        self.generation += 1
        if self.generation > 1 and not flags.session_present:
            # The broker lost our session (expired, or restarted without persistence):
            # whatever it had queued for us is gone, so say so loudly.
            log.error("reconnected but the broker had no session for %s: queued messages may be lost", self.client_id)
        else:
            log.info("connected to broker (session present: %s)", flags.session_present)
        # retainHandling=1: retained statuses only when the subscription is new, not
        # again on every reconnect, where they would look like fresh connectivity changes.
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_SEND_IF_NEW_SUB)
        client.subscribe([(topic, options) for topic in self.topics.ingest_subscriptions(self.settings.ingest_group)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        failed = [rc for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("subscription refused: %s", failed)
        else:
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.subscribed.clear()
        if not self.stop_event.is_set():
            log.warning("disconnected from broker (%s); paho reconnects", reason_code)

    def _on_message(self, client, userdata, msg: MQTTMessage):
        self.inbox.append(Inbound(msg.topic, msg.payload, msg.mid, msg.qos, time.time(), self.generation, msg.retain))
        self.wake.set()
        # Mosquitto 2.0.11 stops honouring our receive-maximum once PUBACKs flow (measured:
        # 90,500 unacknowledged with a maximum of 2,000), so a backlog would pour into memory.
        # Hold paho's network thread here instead: it stops reading, TCP pushes back on the
        # broker, and the inbox stays within the window the setting names.
        while len(self.inbox) >= self.inbox_limit and not self.stop_event.is_set():
            self.room.clear()
            if len(self.inbox) < self.inbox_limit:
                break
            self.room.wait(0.5)

    # --- writer side (main thread) -------------------------------------------------
    def _next_batch(self) -> list[Inbound]:
        size = self.settings.ingest_batch_size
        self.wake.clear()
        if not self.inbox and not self.wake.wait(0.2):
            return []
        deadline = time.monotonic() + self.settings.ingest_batch_ms / 1000
        while len(self.inbox) < size:
            left = deadline - time.monotonic()
            if left <= 0 or self.stop_event.is_set():
                break
            self.wake.clear()
            self.wake.wait(left)
        batch = []
        inbox = self.inbox
        while inbox and len(batch) < size:
            batch.append(inbox.popleft())
        self.room.set()
        return batch

    def _connect_store(self) -> Store:
        delay = 0.5
        while True:
            try:
                conn = psycopg.connect(database_url(self.settings), application_name=f"pilecare-ingest:{self.client_id}")
                return Store(conn, worker=self.client_id)
            except psycopg.OperationalError as error:
                log.error("database unavailable (%s); retrying in %.1fs", error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10)

    def decode(self, batch: list[Inbound]) -> list:
        t0 = time.perf_counter()
        items = [(m, self._decode_one(m)) for m in batch]
        self.timing["decode"] += time.perf_counter() - t0
        return items

    def _decode_one(self, inbound: Inbound):
        try:
            return self.decoder.decode(inbound)
        except Exception as error:  # one message must never stop ingest for the whole fleet
            log.exception("message on %s could not be decoded", inbound.topic)
            return DeadLetter(inbound, f"could not be decoded: {type(error).__name__}: {error}"[:500])

    def store(self, batch: list[Inbound], items: list) -> BatchResult:
        """Write one decoded batch, then acknowledge it: never the other way round."""
        t1 = time.perf_counter()
        result = self._write(items)
        t2 = time.perf_counter()
        self._ack(batch)
        self.timing["write"] += t2 - t1
        self.timing["ack"] += time.perf_counter() - t2
        self.timing["batches"] += 1
        t = self.totals
        t.received += result.received
        t.stored += result.stored
        t.duplicates += result.duplicates
        t.dead_lettered += result.dead_lettered
        for d in result.dead_letters:
            log.warning("dead letter on %s: %s", d.inbound.topic, d.reason)
        return result

    def _write(self, items) -> BatchResult:
        delay = 0.2
        while True:
            if self._store is None:
                self._store = self._connect_store()
            try:
                return self._store.write(items)
            except _RETRYABLE as error:
                log.warning("batch of %d not stored (%s); retrying", len(items), error)
                if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) and self._store.conn.closed:
                    self._store = None
                time.sleep(delay)
                delay = min(delay * 2, 5)
            except (psycopg.Error, ValueError, TypeError, RecursionError) as error:
                # Rejected by the database, or not even sendable (a value json cannot write):
                # about the data, so the messages are tried one by one and the bad one dead-lettered.
                log.error("batch rejected (%s); isolating messages", error)
                return self._write_one_by_one(items)

    def _write_one_by_one(self, items) -> BatchResult:
        total = BatchResult()
        for inbound, decoded in items:
            try:
                r = self._store.write([(inbound, decoded)])
            except _RETRYABLE:
                raise
            except (psycopg.Error, ValueError, TypeError, RecursionError) as error:
                first = (str(error).splitlines() or [type(error).__name__])[0]
                reason = (f"database rejected the message: {first}" if isinstance(error, psycopg.Error)
                          else f"could not be stored: {type(error).__name__}: {first}")[:500]
                kind = inbound.topic.rsplit("/piles/", 1)[-1].split("/", 1)[-1] if "/piles/" in inbound.topic else None
                r = self._store.write([(inbound, DeadLetter(inbound, reason, getattr(decoded, "pile_id", None), kind))])
            total.received += r.received
            total.stored += r.stored
            total.duplicates += r.duplicates
            total.dead_lettered += r.dead_lettered
            total.dead_letters += r.dead_letters
        return total

    def _ack(self, batch: list[Inbound]) -> None:
        # An ack for a message from an earlier connection could hit a different packet
        # id; those messages are redelivered and de-duplicated instead.
        generation = self.generation
        self._client.ack_many([m.mid for m in batch if m.qos == 1 and m.generation == generation])

    # --- lifecycle -----------------------------------------------------------------
    def start_mqtt(self) -> None:
        target = self.settings.mqtt()
        client = mqtt.client(target, self.client_id, manual_ack=True, buffered_reads=True)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        mqtt.connect(client, target, persistent=True, receive_maximum=self.settings.ingest_receive_maximum, blocking=False)
        client.loop_start()

    def _decode_loop(self) -> None:
        """Decode the next batch while the writer waits on PostgreSQL for this one."""
        try:
            while not self.stop_event.is_set():
                batch = self._next_batch()
                if batch:
                    self.decoded.put((batch, self.decode(batch)))
            # Finish what had arrived when asked to stop, so it is acknowledged before we go.
            left = len(self.inbox)
            while left > 0:
                batch = self._next_batch()
                left -= len(batch)
                if batch:
                    self.decoded.put((batch, self.decode(batch)))
        finally:
            self.decoded.put(None)

    def run(self) -> None:
        self._store = self._connect_store()
        self.start_mqtt()
        if self.housekeeping:
            self.housekeeping.start()
        decoder = threading.Thread(target=self._decode_loop, name="ingest-decode", daemon=True)
        decoder.start()
        last_log = time.monotonic()
        try:
            while (job := self.decoded.get()) is not None:
                self.store(*job)
                if time.monotonic() - last_log > 30:
                    last_log = time.monotonic()
                    t = self.totals
                    log.info("received %d stored %d duplicates %d dead-lettered %d; batches %d, "
                             "seconds spent decoding %.1f, writing %.1f, acknowledging %.1f",
                             t.received, t.stored, t.duplicates, t.dead_lettered, self.timing["batches"],
                             self.timing["decode"], self.timing["write"], self.timing["ack"])
        finally:
            self.stop_event.set()
            decoder.join(5)
            if self.housekeeping:
                self.housekeeping.stop()
            self._client.disconnect()
            self._client.loop_stop()
            if self._store:
                self._store.conn.close()

    def stop(self, *_args) -> None:
        self.stop_event.set()
        self.wake.set()
        self.room.set()


def main(settings: Settings) -> None:
    # The network thread is busy parsing packets while the writer waits on PostgreSQL;
    # a shorter GIL switch interval stops each database round trip waiting up to 5 ms.
    sys.setswitchinterval(0.001)
    worker = IngestWorker(settings)
    signal.signal(signal.SIGTERM, worker.stop)
    signal.signal(signal.SIGINT, worker.stop)
    log.info("ingest worker %s consuming %s/piles/+/… as group %s",
             worker.client_id, settings.topic_prefix, settings.ingest_group)
    worker.run()
