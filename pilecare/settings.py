"""One env-driven Settings object for every pilecare process."""
from __future__ import annotations

import socket
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MqttTarget(BaseModel):
    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None  # mqtts: the CA to trust instead of the system's


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PILECARE_", env_file=".env", extra="ignore")

    # None means "start an embedded one" (only `pilecare run` and the benchmarks do that).
    database_url: str | None = None
    mqtt_url: str | None = None
    # mqtts:// to a broker whose certificate a private CA signed (a local run's broker:
    # .pilecare/broker/tls/ca.crt): that CA's PEM file. Unset: the system's trusted CAs.
    mqtt_ca_file: str | None = None
    topic_prefix: str = "pilecare/v1"

    # Shared-subscription group the ingest workers split the stream in; empty for a
    # plain (exclusive) subscription by a single worker.
    ingest_group: str = "pilecare-ingest"
    # Stable per host by default so a restarted worker resumes its own broker session
    # (and the messages queued for it while it was down).
    ingest_client_id: str = Field(default_factory=lambda: f"pilecare-ingest-{socket.gethostname()}")
    ingest_batch_size: int = Field(default=5000, ge=1, le=50_000)
    ingest_batch_ms: int = Field(default=50, ge=1, le=10_000)
    # Receive-maximum asked of the broker: how many unacked messages may be in flight to
    # us. It must exceed the batch size or acks would throttle the stream; it also bounds
    # ingest memory.
    ingest_receive_maximum: int = Field(default=20_000, ge=10, le=65_535)
    max_payload_bytes: int = Field(default=64 * 1024, ge=256)

    # A device clock more than this far ahead of the broker-receive time is skewed.
    clock_ahead_tolerance_s: int = 300
    # Piles buffer readings while offline and upload them later, so old timestamps are
    # normal; older than this they are a reset RTC (1970) and are stored at receive time.
    clock_max_age_days: int = 30

    # "auto" uses TimescaleDB when the extension can be created, else plain PostgreSQL.
    timescale: str = Field(default="auto", pattern="^(auto|on|off)$")
    retention_days: int = Field(default=90, ge=1)
    partition_ahead_days: int = Field(default=3, ge=1)

    # The maintenance policy (SLA clocks, triage, verification); the shipped default if unset.
    policy_file: str | None = None
    # Dispatch: required skills, objective weights, offer timeout; the shipped default if unset.
    dispatch_file: str | None = None

    # Signs the API's bearer tokens. Unset: a random one kept in <data_dir>/secret, which
    # every process started from the same directory shares.
    secret_key: str | None = Field(default=None, min_length=32)
    token_minutes: int = Field(default=12 * 60, ge=1, le=30 * 24 * 60)   # one shift
    # Failed logins within the window before further attempts are refused (429) until it has
    # passed, counted in PostgreSQL so guessing stays slow across processes (docs/roles.md):
    # per user name and source (the device cookie of a client that has logged in as that user
    # before, else the address) ...
    login_max_failures: int = Field(default=5, ge=1)
    # ... and per user name over every client without such a cookie, so many addresses
    # together cannot guess on; a client with the cookie is not held by this one.
    login_max_failures_per_name: int = Field(default=50, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Where customers reach pilecare from outside (links in mail, e.g. the follow-up survey);
    # unset: http://<api_host>:<api_port>.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")

    def public_base(self) -> str:
        """The base of links mailed to customers, without a trailing slash."""
        return (self.public_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    # The service desk's mail (issue 13). The inbound SMTP listener (`pilecare smtp`) and the
    # largest mail it takes; the desk's own address, From of every mail it sends (mail to
    # any address of its domain is taken); the relay outbound mail goes through, "host:port"
    # — empty keeps outbound mail waiting in the outbox until one is configured.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65_535)
    smtp_max_bytes: int = Field(default=10 * 1024 * 1024, ge=64 * 1024)
    desk_address: str = Field(default="service@pilecare.local", pattern=r"^[^@\s]+@[^@\s]+$")
    mail_relay: str = Field(default="", pattern=r"^$|^[^\s:]+:\d{1,5}$")
    data_dir: str = ".pilecare"

    # The OCPP central system (`pilecare ocpp`, docs/ocpp.md): where chargers connect, at
    # ws(s)://ocpp_host:ocpp_port/ocpp/{charge_point_id}. Security profile 1 = HTTP Basic over
    # plain WebSocket (only behind a TLS-terminating proxy), 2 = HTTP Basic over TLS with the
    # certificate and key below (OCPP 1.6 Security Whitepaper / 2.0.1 part 2 A00).
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = Field(default=9000, ge=0, le=65_535)
    ocpp_security_profile: int = Field(default=1, ge=1, le=2)
    ocpp_tls_cert: str | None = None
    ocpp_tls_key: str | None = None
    # The longest heartbeat interval a BootNotification's answer gives an accepted charger (its
    # model's reporting interval when shorter: liveness counts three of those), and the time a
    # Pending one waits before it boots again (1.6 §4.2 / 2.0.1 B02).
    ocpp_heartbeat_s: int = Field(default=300, ge=10, le=86_400)
    ocpp_boot_retry_s: int = Field(default=60, ge=10, le=86_400)
    # How long the gateway waits for the broker's PUBACK before answering a charger's CALL
    # with CALLERROR InternalError instead (nothing is acknowledged that the broker lacks).
    ocpp_publish_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How long the CSMS waits for a charger's answer to one of its CALLs.
    ocpp_call_timeout_s: int = Field(default=30, ge=1, le=600)
    # This process's name in ocpp_connections; stable across restarts so a restarted gateway
    # reports offline the chargers its killed predecessor held. Unique per process.
    ocpp_gateway_name: str = Field(default_factory=lambda: f"ocpp-{socket.gethostname()}")
    # After a restart, how long the chargers the previous run of this gateway held have to
    # reconnect before those that have not are reported offline: a deploy must not raise an
    # offline alarm for every charger.
    ocpp_restart_grace_s: float = Field(default=60.0, ge=0, le=3600)
    # Database connections one gateway process keeps for a reconnect storm's handshakes.
    ocpp_db_pool: int = Field(default=8, ge=1, le=100)

    @field_validator("topic_prefix")
    @classmethod
    def _strip_slashes(cls, value: str) -> str:
        value = value.strip("/")
        if not value or "+" in value or "#" in value:
            raise ValueError("topic_prefix must be a plain topic path without wildcards")
        return value

    def relay(self) -> tuple[str, int] | None:
        """The outbound mail relay as (host, port), None when none is configured."""
        if not self.mail_relay:
            return None
        host, _, port = self.mail_relay.rpartition(":")
        return host, int(port)

    def ocpp_endpoint(self) -> str:
        """Where chargers connect, with `{charge_point_id}` left for the charger's id."""
        scheme = "wss" if self.ocpp_security_profile == 2 else "ws"
        return f"{scheme}://{self.ocpp_host}:{self.ocpp_port}/ocpp/{{charge_point_id}}"

    def mqtt(self) -> MqttTarget:
        target = parse_mqtt_url(self.mqtt_url or "mqtt://127.0.0.1:1883")
        return target.model_copy(update={"ca_file": self.mqtt_ca_file}) if self.mqtt_ca_file else target


def parse_mqtt_url(url: str) -> MqttTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return MqttTarget(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
