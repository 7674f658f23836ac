-- Issue 11, item 10: calendars users expect. Sites have a time zone; maintenance windows
-- can recur on the site's local clock (across daylight-saving changes); preventive plans
-- can count their calendar interval in months.

-- An IANA zone name (Europe/Berlin). Sites registered before this have no known zone:
-- UTC is what every local-time rule used until now, so they keep behaving as before until
-- someone sets theirs (PATCH /sites/{id}; every change is in site_events).
ALTER TABLE sites ADD COLUMN timezone text NOT NULL DEFAULT 'UTC';

-- Who changed what on a site, and when (the registry's fields; one row per change).
CREATE TABLE site_events (
    id      bigserial PRIMARY KEY,
    site_id text NOT NULL REFERENCES sites (id),
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,
    changes jsonb NOT NULL   -- {"timezone": {"from": "UTC", "to": "Europe/Berlin"}}
);
CREATE INDEX site_events_site_idx ON site_events (site_id, at);

-- A window is either one span (starts_at, ends_at) or a recurrence on the site's local
-- clock: every day (or on the ISO weekdays listed, 1 = Monday) from start_time to end_time,
-- an end at or before the start meaning the next day, between the local dates first_day
-- and last_day (both optional, inclusive; they bound the day an occurrence starts).
ALTER TABLE maintenance_windows
    ALTER COLUMN starts_at DROP NOT NULL,
    ALTER COLUMN ends_at DROP NOT NULL,
    ADD COLUMN recurrence text CHECK (recurrence IN ('daily', 'weekly')),
    ADD COLUMN start_time time,
    ADD COLUMN end_time   time,
    ADD COLUMN weekdays   smallint[] CHECK (weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]
                                            AND cardinality(weekdays) > 0),
    ADD COLUMN first_day  date,
    ADD COLUMN last_day   date,
    ADD CONSTRAINT maintenance_windows_shape_check CHECK (
        CASE WHEN recurrence IS NULL
             THEN starts_at IS NOT NULL AND ends_at IS NOT NULL AND start_time IS NULL AND end_time IS NULL
                  AND weekdays IS NULL AND first_day IS NULL AND last_day IS NULL
             ELSE starts_at IS NULL AND ends_at IS NULL AND start_time IS NOT NULL AND end_time IS NOT NULL
                  AND start_time <> end_time AND (recurrence = 'weekly') = (weekdays IS NOT NULL)
                  AND (first_day IS NULL OR last_day IS NULL OR first_day <= last_day) END);

-- Whether a window covers the moment `at`, reading a recurrence on the clock of `zone`.
-- The one definition: the alarm lifecycle (suppression and its lifting) and the API's
-- `active` use it. An occurrence that covers `at` started on `at`'s local day or, for a
-- window past midnight, the day before. Local times are turned into instants by
-- PostgreSQL's rules: a time the clock skips (02:30 when it jumps from 02:00 to 03:00) is
-- read with the offset before the jump, so the window starts when the clock jumps and is
-- shorter that night; a time that occurs twice (when the clock goes back) is read as the
-- second one, so the window is never longer than its span on the local clock.
CREATE FUNCTION maintenance_window_covers(w maintenance_windows, zone text, at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT w.cancelled_at IS NULL AND CASE
        WHEN w.recurrence IS NULL THEN at >= w.starts_at AND at < w.ends_at
        ELSE EXISTS (
            SELECT 1 FROM (VALUES ((at AT TIME ZONE zone)::date), ((at AT TIME ZONE zone)::date - 1)) AS d (day)
            WHERE (w.weekdays IS NULL OR extract(isodow FROM d.day)::smallint = ANY (w.weekdays))
              AND (w.first_day IS NULL OR d.day >= w.first_day)
              AND (w.last_day IS NULL OR d.day <= w.last_day)
              AND at >= (d.day + w.start_time) AT TIME ZONE zone
              AND at < ((d.day + (w.end_time <= w.start_time)::int) + w.end_time) AT TIME ZONE zone)
    END
$$;

-- Preventive plans: a calendar interval in days or in calendar months, never both. Months
-- are counted from a fixed anchor (31 January, 28 February, 31 March …), see
-- maintenance/planning/calendar.py.
ALTER TABLE maintenance_plans
    ADD COLUMN interval_months integer CHECK (interval_months > 0),
    ADD CONSTRAINT maintenance_plans_one_calendar_check CHECK (interval_days IS NULL OR interval_months IS NULL),
    DROP CONSTRAINT maintenance_plans_check,
    ADD CONSTRAINT maintenance_plans_check
        CHECK (num_nonnulls(interval_days, interval_months, energy_kwh, sessions, plug_cycles, operating_hours) > 0);
