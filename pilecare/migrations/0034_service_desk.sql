-- Issue 13: the after-sales service desk (R-INFO, R-INTAKE, R-RESPONSE, R-COMPLAINT,
-- R-FOLLOWUP). The desk's room is maintenance/servicedesk; it owns these tables.

-- Customers have several contacts (R-INFO); the single contact on customers stays as it
-- was for old readers, and becomes the first contact here.
CREATE TABLE customer_contacts (
    id          bigserial PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role        text,                        -- e.g. site manager, fleet operator, accounts
    phone       text,                        -- E.164 (normalised with phonenumbers)
    email       text,                        -- lower-cased
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_contacts_customer_idx ON customer_contacts (customer_id);
CREATE INDEX customer_contacts_phone_idx ON customer_contacts (phone) WHERE phone IS NOT NULL;
CREATE INDEX customer_contacts_email_idx ON customer_contacts (lower(email)) WHERE email IS NOT NULL;
INSERT INTO customer_contacts (customer_id, name, phone, email)
SELECT id, contact_name, contact_phone, lower(contact_email) FROM customers WHERE contact_name IS NOT NULL;

-- Every change to customer records (R-INFO: protected against tampering): who, when, what.
CREATE TABLE customer_changes (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    customer_id text NOT NULL REFERENCES customers (id),
    contact_id  bigint REFERENCES customer_contacts (id),
    action      text NOT NULL,               -- created, updated, contact_added, contact_updated, contact_removed
    before      jsonb,
    after       jsonb
);
CREATE INDEX customer_changes_customer_idx ON customer_changes (customer_id, at);

-- A portal user belongs to one customer and sees only that customer's objects.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'supervisor', 'dispatcher', 'engineer', 'agent', 'viewer', 'customer'));
ALTER TABLE users ADD COLUMN customer_id text REFERENCES customers (id);
ALTER TABLE users ADD CONSTRAINT users_customer_check CHECK ((role = 'customer') = (customer_id IS NOT NULL));

-- A customer's request from any channel (R-INTAKE), with its two clocks (R-RESPONSE).
-- Waiting for the customer pauses both: on resume the due times move by the wait.
-- customer_id is NULL for a mail from an address no contact has: an agent links it.
CREATE TABLE requests (
    id                 bigserial PRIMARY KEY,
    customer_id        text REFERENCES customers (id),
    contact_id         bigint REFERENCES customer_contacts (id),
    pile_id            text REFERENCES piles (id),
    site_id            text REFERENCES sites (id),
    channel            text NOT NULL CHECK (channel IN ('phone', 'email', 'web')),
    class              text CHECK (class IN ('consultation', 'fault_report', 'installation_request', 'complaint',
                                             'suggestion')),        -- NULL until an agent decides
    suggested_class    text,
    state              text NOT NULL DEFAULT 'new'
                       CHECK (state IN ('new', 'open', 'waiting_customer', 'resolved', 'closed')),
    subject            text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    description        text,
    caller             text,                 -- the number or address it came from, as normalised
    tier               text NOT NULL,        -- the customer's tier when it arrived (its clocks; standard if unknown)
    created_at         timestamptz NOT NULL DEFAULT now(),
    created_by         text NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    response_due_at    timestamptz NOT NULL,
    responded_at       timestamptz,
    resolve_due_at     timestamptz NOT NULL,
    resolved_at        timestamptz,
    closed_at          timestamptz,
    waiting_since      timestamptz,          -- set while the clock is paused
    waited_s           double precision NOT NULL DEFAULT 0,
    promised_at        timestamptz,          -- a complex question: when the answer was promised
    agent              text,                 -- who holds it
    work_order_id      bigint REFERENCES work_orders (id),
    sla_warned_at      timestamptz,
    sla_breached_at    timestamptz,
    -- The clock the desk races next: the first response until it is given, then resolution.
    -- The agents' inbox is ordered by it.
    next_due_at        timestamptz GENERATED ALWAYS AS
                       (CASE WHEN responded_at IS NULL THEN response_due_at ELSE resolve_due_at END) STORED,
    CHECK ((state = 'waiting_customer') = (waiting_since IS NOT NULL))
);
CREATE INDEX requests_inbox_idx ON requests (next_due_at, id) WHERE state IN ('new', 'open', 'waiting_customer');
CREATE INDEX requests_resolve_idx ON requests (resolve_due_at) WHERE state IN ('new', 'open', 'waiting_customer');
CREATE INDEX requests_customer_idx ON requests (customer_id, created_at DESC);
CREATE INDEX requests_pile_idx ON requests (pile_id, created_at DESC) WHERE pile_id IS NOT NULL;
CREATE INDEX requests_order_idx ON requests (work_order_id) WHERE work_order_id IS NOT NULL;
CREATE INDEX requests_created_idx ON requests (created_at);

-- The thread: what the customer wrote or said, what was answered, internal notes.
-- Message-ID headers of mail in and out let replies find their request.
CREATE TABLE request_messages (
    id          bigserial PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES requests (id),
    at          timestamptz NOT NULL DEFAULT now(),
    direction   text NOT NULL CHECK (direction IN ('in', 'out', 'note')),
    channel     text NOT NULL CHECK (channel IN ('phone', 'email', 'web', 'internal')),
    author      text NOT NULL,               -- a user, a contact's address, or "pilecare"
    kind        text NOT NULL DEFAULT 'message'
                CHECK (kind IN ('message', 'acknowledgement', 'answer', 'progress', 'apology', 'survey', 'note')),
    body        text NOT NULL,
    message_id  text,                        -- RFC 5322 Message-ID, without angle brackets
    in_reply_to text
);
CREATE INDEX request_messages_request_idx ON request_messages (request_id, at);
CREATE UNIQUE INDEX request_messages_message_id_idx ON request_messages (message_id) WHERE message_id IS NOT NULL;

-- The request's timeline: every state change and decision, with who and when.
CREATE TABLE request_events (
    id          bigserial PRIMARY KEY,
    request_id  bigint NOT NULL REFERENCES requests (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    from_state  text,
    to_state    text,
    note        text
);
CREATE INDEX request_events_request_idx ON request_events (request_id, at);

-- Mail that must not open requests: auto-replies, bounces, a sender over the hourly limit.
CREATE TABLE mail_quarantine (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    mail_from   text,                        -- the SMTP envelope sender ('' for a null path)
    from_header text,
    subject     text,
    message_id  text,
    reason      text NOT NULL,               -- auto_submitted, precedence, bounce, null_sender, rate_limit
    raw         bytea NOT NULL,
    released_at timestamptz,
    released_by text
);
CREATE INDEX mail_quarantine_at_idx ON mail_quarantine (at DESC);
-- Mail accepted per sender, for the hourly limit (and for mails_per_s).
CREATE TABLE mail_received (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    sender      text NOT NULL,               -- lower-cased From address
    message_id  text,
    request_id  bigint REFERENCES requests (id),
    quarantine_id bigint REFERENCES mail_quarantine (id)
);
CREATE INDEX mail_received_sender_idx ON mail_received (sender, at);
-- A sender's retry of a mail already committed (same Message-ID) is taken once.
CREATE UNIQUE INDEX mail_received_message_id_idx ON mail_received (message_id) WHERE message_id IS NOT NULL;

-- Complaints (R-COMPLAINT): one per complaint request, a lifecycle the server enforces.
CREATE TABLE complaints (
    id                 bigserial PRIMARY KEY,
    request_id         bigint NOT NULL UNIQUE REFERENCES requests (id),
    customer_id        text NOT NULL REFERENCES customers (id),
    state              text NOT NULL DEFAULT 'recorded'
                       CHECK (state IN ('recorded', 'with_supervisor', 'investigating', 'planned', 'following_up',
                                        'closed')),
    category           text,                 -- what it is about (response, repair quality, conduct, product, billing, other)
    cause_class        text,
    responsible_party  text CHECK (responsible_party IN ('engineer', 'product', 'part', 'supplier', 'process')),
    engineer_id        text REFERENCES engineers (id),   -- when an engineer is responsible
    work_order_id      bigint REFERENCES work_orders (id),
    satisfied          boolean,
    close_reason       text,                 -- a supervisor's reason to close unsatisfied
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    closed_at          timestamptz,
    closed_by          text
);
CREATE INDEX complaints_open_idx ON complaints (created_at) WHERE state <> 'closed';
CREATE INDEX complaints_engineer_idx ON complaints (engineer_id) WHERE engineer_id IS NOT NULL;

CREATE TABLE complaint_measures (
    id            bigserial PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaints (id),
    round         smallint NOT NULL DEFAULT 1,  -- a reopened complaint gets a new plan (round 2, …)
    measure       text NOT NULL CHECK (length(measure) BETWEEN 1 AND 500),
    owner         text NOT NULL,
    deadline      date NOT NULL,
    done_at       timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text NOT NULL
);
CREATE INDEX complaint_measures_complaint_idx ON complaint_measures (complaint_id, round);

CREATE TABLE complaint_events (
    id            bigserial PRIMARY KEY,
    complaint_id  bigint NOT NULL REFERENCES complaints (id),
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text NOT NULL,
    from_state    text,
    to_state      text,
    note          text
);
CREATE INDEX complaint_events_complaint_idx ON complaint_events (complaint_id, at);

-- Follow-ups (R-FOLLOWUP): one per finished job, never again when it reopens.
CREATE TABLE follow_ups (
    id             bigserial PRIMARY KEY,
    work_order_id  bigint REFERENCES work_orders (id),
    request_id     bigint REFERENCES requests (id),
    complaint_id   bigint REFERENCES complaints (id),
    customer_id    text NOT NULL REFERENCES customers (id),
    due_at         timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    agent          text,                     -- who took it
    done_at        timestamptz,
    channel        text CHECK (channel IN ('call', 'survey')),
    solved         boolean,
    satisfaction   smallint CHECK (satisfaction BETWEEN 1 AND 5),
    comments       text,
    recorded_by    text,
    survey_token   text UNIQUE,              -- the survey link's secret (no login)
    CHECK (num_nonnulls(work_order_id, request_id, complaint_id) = 1)
);
CREATE UNIQUE INDEX follow_ups_order_once_idx ON follow_ups (work_order_id) WHERE work_order_id IS NOT NULL;
CREATE UNIQUE INDEX follow_ups_request_once_idx ON follow_ups (request_id) WHERE request_id IS NOT NULL;
CREATE INDEX follow_ups_due_idx ON follow_ups (due_at) WHERE done_at IS NULL;
CREATE INDEX follow_ups_complaint_idx ON follow_ups (complaint_id) WHERE complaint_id IS NOT NULL;

-- How far the desk has read the outbox (it learns of finished jobs from events).
CREATE TABLE desk_cursor (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_outbox_id bigint NOT NULL DEFAULT 0
);
INSERT INTO desk_cursor DEFAULT VALUES;

-- Desk notices (SLA warnings/breaches of requests) name their request; once per kind.
ALTER TABLE notifications ADD COLUMN request_id bigint REFERENCES requests (id);
CREATE UNIQUE INDEX notifications_request_once_idx ON notifications (request_id, kind) WHERE request_id IS NOT NULL;
ALTER TABLE outbox ADD COLUMN request_id bigint REFERENCES requests (id);
