-- Management reports (R-KPI, R-COST, issue 14): the monthly service report and the quarterly
-- fault analysis, stored as generated (PDF and XLSX kept with the figures they show), so a
-- report once sent reads the same a year later whatever the records do since.

CREATE TABLE reports (
    id           bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('monthly', 'quarterly')),
    period       text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' OR period ~ '^[0-9]{4}Q[1-4]$'),
    version      integer NOT NULL CHECK (version >= 1),
    -- 'schedule': the one the worker produces by the 5th and mails; 'manager': made on demand.
    trigger      text NOT NULL CHECK (trigger IN ('schedule', 'manager')),
    generated_at timestamptz NOT NULL DEFAULT now(),
    generated_by text NOT NULL,
    pdf          bytea NOT NULL,
    xlsx         bytea NOT NULL,
    totals       jsonb NOT NULL,          -- the report's data model, the figures the files show
    recipients   text[] NOT NULL DEFAULT '{}',   -- to whom it was mailed (schedule), when it was
    UNIQUE (kind, period, version)
);
-- Exactly once: one scheduled report per kind and period, whatever the number of workers
-- (the worker's INSERT … ON CONFLICT DO NOTHING is the claim). Regenerations are new
-- versions beside it; the old ones are kept.
CREATE UNIQUE INDEX reports_one_scheduled ON reports (kind, period) WHERE trigger = 'schedule';
CREATE INDEX reports_listing_idx ON reports (generated_at DESC, id DESC);

