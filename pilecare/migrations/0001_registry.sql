-- Fleet registry: who owns which pile where (R-INFO).
CREATE TABLE customers (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    tier          text NOT NULL DEFAULT 'standard' CHECK (tier IN ('platinum', 'gold', 'standard')),
    contact_name  text,
    contact_phone text,
    contact_email text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    id          text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    name        text NOT NULL,
    address     text,
    region      text NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    environment text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_customer_idx ON sites (customer_id);

CREATE TABLE pile_models (
    id                   text PRIMARY KEY,
    manufacturer         text NOT NULL,
    name                 text NOT NULL,
    kind                 text NOT NULL CHECK (kind IN ('AC', 'DC')),
    rated_power_kw       real NOT NULL CHECK (rated_power_kw > 0),
    connectors           smallint NOT NULL CHECK (connectors BETWEEN 1 AND 8),
    reporting_interval_s integer NOT NULL DEFAULT 30 CHECK (reporting_interval_s > 0)
);

-- Pile ids appear in MQTT topics, so they may not contain '/', '+' or '#'.
CREATE TABLE piles (
    id              text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    serial          text NOT NULL UNIQUE,
    model_id        text NOT NULL REFERENCES pile_models (id),
    site_id         text NOT NULL REFERENCES sites (id),
    firmware        text,
    installed_on    date,
    commissioned_on date,
    warranty_end    date,
    lat             double precision CHECK (lat BETWEEN -90 AND 90),
    lon             double precision CHECK (lon BETWEEN -180 AND 180),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT 'system'
);
CREATE INDEX piles_site_idx ON piles (site_id);
CREATE INDEX piles_model_idx ON piles (model_id);
