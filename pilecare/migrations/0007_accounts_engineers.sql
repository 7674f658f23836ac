-- Issue 4: accounts and roles, engineers, and assignments of work orders to engineers.

CREATE TABLE users (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9._-]{2,64}$'),   -- the login name
    full_name     text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'engineer', 'agent', 'viewer')),
    password_hash text NOT NULL,
    email         text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL
);

CREATE TABLE engineers (
    id           text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    user_id      text UNIQUE REFERENCES users (id),
    name         text NOT NULL,
    phone        text,
    -- Skills and certifications: 'AC', 'DC', 'HV' (high voltage), 'mfr:<manufacturer>', and
    -- fault categories ('electrical', 'cooling', …) the engineer is trained for.
    skills       text[] NOT NULL DEFAULT '{}',
    regions      text[] NOT NULL DEFAULT '{}',
    home_lat     double precision NOT NULL CHECK (home_lat BETWEEN -90 AND 90),
    home_lon     double precision NOT NULL CHECK (home_lon BETWEEN -180 AND 180),
    lat          double precision CHECK (lat BETWEEN -90 AND 90),     -- last known position
    lon          double precision CHECK (lon BETWEEN -180 AND 180),
    position_at  timestamptz,
    max_jobs     smallint NOT NULL DEFAULT 3 CHECK (max_jobs BETWEEN 1 AND 50),
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE engineer_shifts (
    id          bigserial PRIMARY KEY,
    engineer_id text NOT NULL REFERENCES engineers (id),
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX engineer_shifts_idx ON engineer_shifts (engineer_id, starts_at, ends_at);

-- Every offer of an order to an engineer, with why (the score breakdown) and its outcome.
CREATE TABLE assignments (
    id            bigserial PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    engineer_id   text NOT NULL REFERENCES engineers (id),
    state         text NOT NULL DEFAULT 'offered'
                  CHECK (state IN ('offered', 'accepted', 'declined', 'timed_out', 'withdrawn', 'done')),
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    assigned_by   text NOT NULL,          -- 'dispatch' or the dispatcher who overrode
    accept_by     timestamptz,            -- no answer by then: timed out and reassigned
    decided_at    timestamptz,
    reason        text,
    score         jsonb NOT NULL DEFAULT '{}'
);
-- One live assignment per order: offered or accepted.
CREATE UNIQUE INDEX assignments_one_live ON assignments (work_order_id) WHERE state IN ('offered', 'accepted');
CREATE INDEX assignments_engineer_idx ON assignments (engineer_id, state);
CREATE INDEX assignments_offered_idx ON assignments (accept_by) WHERE state = 'offered';

ALTER TABLE work_orders
    ADD COLUMN engineer_id text REFERENCES engineers (id),   -- who holds the order now
    ADD COLUMN eta         timestamptz;
CREATE INDEX work_orders_engineer_idx ON work_orders (engineer_id) WHERE engineer_id IS NOT NULL;

-- Spare parts (R-PARTS): catalogue and stock per location (a warehouse or an engineer's van).
CREATE TABLE parts (
    id                text PRIMARY KEY,
    name              text NOT NULL,
    spec              text,
    compatible_models text[] NOT NULL DEFAULT '{}',
    unit_cost         numeric(12, 2) NOT NULL DEFAULT 0 CHECK (unit_cost >= 0)
);
CREATE TABLE stock_locations (
    id          text PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('warehouse', 'van')),
    name        text NOT NULL,
    engineer_id text UNIQUE REFERENCES engineers (id),
    CHECK ((kind = 'van') = (engineer_id IS NOT NULL))
);
CREATE TABLE stock (
    location_id text NOT NULL REFERENCES stock_locations (id),
    part_id     text NOT NULL REFERENCES parts (id),
    quantity    integer NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    PRIMARY KEY (location_id, part_id)
);
-- Which parts a fault category usually needs (dispatch prefers engineers carrying them).
CREATE TABLE category_parts (
    fault_category text NOT NULL,
    part_id        text NOT NULL REFERENCES parts (id),
    PRIMARY KEY (fault_category, part_id)
);
