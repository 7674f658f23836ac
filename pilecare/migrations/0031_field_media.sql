-- Issue 12, item 1: what an engineer's phone working offline needs from the field API.

-- Idempotency keys (docs/field-api.md, "Retries"): the first request with a key is applied
-- and its answer kept against (user, key), in the same transaction as the action, so a
-- repeat (the phone lost the answer, or sent its queue twice) applies nothing and gets the
-- same answer. The fingerprint (method, path and body) tells a repeat from a client reusing
-- a key for another request. Kept 7 days (api/idempotency.py, KEEP).
CREATE TABLE idempotency_keys (
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    method      text NOT NULL,
    path        text NOT NULL,
    fingerprint text NOT NULL,
    status_code smallint,            -- set with the answer, in the claim's own transaction
    body        bytea,               -- the JSON answer, byte for byte
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_age_idx ON idempotency_keys (created_at);

-- Photos taken on the job (R-REPORT): before and after, kept by the server with what
-- decoding them found (the client's content type is never trusted).
CREATE TABLE work_order_photos (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES work_orders (id),
    stage        text NOT NULL CHECK (stage IN ('before', 'after')),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    image        bytea NOT NULL,
    bytes        integer NOT NULL CHECK (bytes > 0),
    width        integer NOT NULL CHECK (width > 0),
    height       integer NOT NULL CHECK (height > 0),
    caption      text CHECK (length(caption) <= 500),
    taken_by     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Set when a repair that did not hold starts a new visit: the photos stay with the
    -- visit they show (maintenance/orders/lifecycle.py, _new_visit).
    superseded_at timestamptz
);
CREATE INDEX work_order_photos_order_idx ON work_order_photos (order_id, id);

-- The customer's drawn signature for the service report (R-REPORT): one per visit, a new
-- one replaces the earlier (the timeline says so). A reopened order's new visit is signed
-- afresh: the earlier visit's signature is superseded with its report, so it can never
-- sign off the new one.
CREATE TABLE work_order_signatures (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES work_orders (id),
    signer_name  text NOT NULL CHECK (length(signer_name) BETWEEN 1 AND 200),
    image        bytea NOT NULL,
    bytes        integer NOT NULL CHECK (bytes > 0),
    signed_by    text NOT NULL,
    signed_at    timestamptz NOT NULL DEFAULT now(),
    superseded_at timestamptz
);
CREATE UNIQUE INDEX work_order_signatures_current ON work_order_signatures (order_id) WHERE superseded_at IS NULL;
