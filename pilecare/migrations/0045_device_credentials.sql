-- Per-device credentials (issue 15; docs/device-protocol.md, "Security"; docs/ocpp.md).
-- Every pile gets its own password per protocol: MQTT (username = pile id) and OCPP
-- (HTTP Basic, security profiles 1 and 2: username = charge point id = pile id). Only a
-- hash is kept, in Mosquitto's password-file format ($7$ = PBKDF2-SHA512), so the broker's
-- password file can be written from this table without ever knowing a password.
-- Rotation revokes the current credential and issues a new one in one transaction; at most
-- one live credential per pile and protocol (partial unique index).
CREATE TABLE device_credentials (
    id            bigserial PRIMARY KEY,
    pile_id       text NOT NULL REFERENCES piles (id),
    protocol      text NOT NULL CHECK (protocol IN ('mqtt', 'ocpp')),
    password_hash text NOT NULL CHECK (password_hash LIKE '$7$%'),
    issued_at     timestamptz NOT NULL DEFAULT now(),
    issued_by     text NOT NULL,
    revoked_at    timestamptz,
    revoked_by    text,
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE UNIQUE INDEX device_credentials_live_idx ON device_credentials (pile_id, protocol) WHERE revoked_at IS NULL;

-- Service accounts of pilecare's own processes on the broker (ingest, worker, API, OCPP
-- gateway, simulators): a name, a hash in the same format, and the topics it may use.
CREATE TABLE broker_accounts (
    username      text PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9-]{1,63}$'),
    password_hash text NOT NULL CHECK (password_hash LIKE '$7$%'),
    role          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL
);

-- Every change of device credentials or service accounts wakes whoever keeps the broker's
-- password and ACL files in step (gateway/broker_auth.py).
CREATE FUNCTION device_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('device_credentials', coalesce(NEW.protocol, ''));
    RETURN NULL;
END $$;
CREATE FUNCTION broker_accounts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('device_credentials', 'mqtt');
    RETURN NULL;
END $$;
CREATE TRIGGER device_credentials_notify AFTER INSERT OR UPDATE OR DELETE ON device_credentials
    FOR EACH ROW EXECUTE FUNCTION device_credentials_changed();
CREATE TRIGGER broker_accounts_notify AFTER INSERT OR UPDATE OR DELETE ON broker_accounts
    FOR EACH ROW EXECUTE FUNCTION broker_accounts_changed();

-- Which OCPP connection currently speaks for a charger (gateway/ocpp). A newer connection
-- replaces the older one, in any gateway process: the row is claimed by an upsert, and
-- only the connection still named here may report the charger offline when it closes or
-- deliver commands to it.
CREATE TABLE ocpp_connections (
    pile_id       text PRIMARY KEY REFERENCES piles (id),
    connection_id uuid NOT NULL,
    gateway       text NOT NULL,
    ocpp_version  text NOT NULL CHECK (ocpp_version IN ('1.6', '2.0.1')),
    connected_at  timestamptz NOT NULL DEFAULT now()
);

-- OCPP 1.6 transaction ids are assigned by the central system (StartTransaction.conf).
-- The same StartTransaction replayed (a charger that lost the answer, libocpp #907) gets
-- the same id back: unique on what identifies the start.
CREATE TABLE ocpp_transactions (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    pile_id        text NOT NULL REFERENCES piles (id),
    connector_id   integer NOT NULL,
    id_tag         text NOT NULL,
    meter_start_wh bigint NOT NULL,
    started_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pile_id, connector_id, started_at, id_tag, meter_start_wh)
);
