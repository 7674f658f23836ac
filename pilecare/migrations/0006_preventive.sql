-- Issue 3, part 4: preventive maintenance plans (R-PM) and inspection rounds (R-INSPECT).
-- Planners may run in several processes at once: every order they create is guarded by
-- a partial unique index below, so a restart or a second planner never duplicates one.

-- A plan applies to every pile of one model, or (model_id NULL) to every pile of a kind
-- whose model has no active plan of its own. Thresholds are "whichever comes first".
CREATE TABLE maintenance_plans (
    id                  text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9._-]{0,63}$'),
    name                text NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('AC', 'DC')),
    model_id            text REFERENCES pile_models (id),
    interval_days       integer CHECK (interval_days > 0),
    energy_kwh          double precision CHECK (energy_kwh > 0),
    sessions            integer CHECK (sessions > 0),
    plug_cycles         integer CHECK (plug_cycles > 0),
    operating_hours     double precision CHECK (operating_hours > 0),
    lead_days           integer NOT NULL DEFAULT 14 CHECK (lead_days >= 0),
    -- {"coastal": 0.7, ...}: multiplied over the site's environments, never below min_factor.
    environment_factors jsonb NOT NULL DEFAULT '{}',
    min_factor          double precision NOT NULL DEFAULT 0.5 CHECK (min_factor > 0 AND min_factor <= 1),
    checklist           jsonb NOT NULL DEFAULT '[]',
    active              boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    created_by          text NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    updated_by          text NOT NULL,
    CHECK (num_nonnulls(interval_days, energy_kwh, sessions, plug_cycles, operating_hours) > 0)
);
CREATE INDEX maintenance_plans_model_idx ON maintenance_plans (model_id) WHERE active;

-- One trip to a site: the PM orders of its piles falling due within window_days of the
-- planned date share it. Open or done is read from its orders, not stored twice.
CREATE TABLE pm_visits (
    id          bigserial PRIMARY KEY,
    site_id     text NOT NULL REFERENCES sites (id),
    planned_for date NOT NULL,
    window_days integer NOT NULL CHECK (window_days >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL,
    UNIQUE (site_id, planned_for)
);

-- IF NOT EXISTS: another slice of issue 3 may add a column of the same name first.
ALTER TABLE work_orders
    ADD COLUMN IF NOT EXISTS due_at    timestamptz,
    ADD COLUMN IF NOT EXISTS plan_id   text REFERENCES maintenance_plans (id),
    ADD COLUMN IF NOT EXISTS visit_id  bigint REFERENCES pm_visits (id),
    -- Inspection rounds are site jobs; pile_id then holds the site's first pile (NOT NULL).
    ADD COLUMN IF NOT EXISTS site_id   text REFERENCES sites (id),
    -- A snapshot of the plan's checklist: later plan edits do not change issued orders.
    ADD COLUMN IF NOT EXISTS checklist jsonb NOT NULL DEFAULT '[]';
-- The idempotency keys: one open PM order per (pile, plan), one open round per site.
CREATE UNIQUE INDEX work_orders_one_open_preventive ON work_orders (pile_id, plan_id)
    WHERE kind = 'preventive' AND state NOT IN ('closed', 'cancelled');
CREATE UNIQUE INDEX work_orders_one_open_inspection ON work_orders (site_id)
    WHERE kind = 'inspection' AND state NOT IN ('closed', 'cancelled');
CREATE INDEX work_orders_due_idx ON work_orders (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX work_orders_visit_idx ON work_orders (visit_id) WHERE visit_id IS NOT NULL;
-- "Usage since the last completed PM" looks this up for the whole fleet on every run.
CREATE INDEX work_orders_last_pm_idx ON work_orders (pile_id, plan_id, closed_at)
    WHERE kind = 'preventive' AND state = 'closed';

-- The planner counts sessions and plug-ins since each pile's last PM: an index-only range.
CREATE INDEX pile_events_pile_type_idx ON pile_events (pile_id, type, received_at);

-- NULL: the default interval of the inspection planner.
ALTER TABLE sites ADD COLUMN inspection_interval_days integer CHECK (inspection_interval_days > 0);

-- The inspection record: what was seen on which pile; a needed repair links its order.
CREATE TABLE inspection_findings (
    id                  bigserial PRIMARY KEY,
    work_order_id       bigint NOT NULL REFERENCES work_orders (id),
    pile_id             text NOT NULL REFERENCES piles (id),
    item                text NOT NULL,
    observation         text,
    needs_repair        boolean NOT NULL DEFAULT false,
    fault_category      text,
    corrective_order_id bigint REFERENCES work_orders (id),
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    recorded_by         text NOT NULL,
    CHECK (NOT needs_repair OR fault_category IS NOT NULL)
);
CREATE INDEX inspection_findings_order_idx ON inspection_findings (work_order_id, id);
CREATE INDEX inspection_findings_pile_idx ON inspection_findings (pile_id, recorded_at DESC);
