-- A placeholder sent twice (issue 11, second review): 909.948, 4294967.295, 4294967.295,
-- 909.950, 911.0 counted 911 kWh once the register came back more than half an hour later,
-- because the repeated placeholder was confirmed as a new baseline and the return to 909.950
-- then read as a restart counted from zero. A placeholder is a constant: a rise no connector
-- can deliver is confirmed only when the register moves on from it (a replaced meter that
-- starts higher counts on), never by the same value again. A drop is still confirmed by a
-- repeat: a session register at rest repeats its last value.
--
-- Energy delivered stays defined once, by energy_walk (migration 0025 says how); only this
-- condition changes. Stored hours are recomputed: on plain PostgreSQL housekeeping does it
-- for the hours marked here; on TimescaleDB run
-- CALL refresh_continuous_aggregate('telemetry_hourly', NULL, now() - INTERVAL '1 hour') once.
CREATE OR REPLACE FUNCTION energy_walk(state double precision[], readings double precision[]) RETURNS double precision[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    max_kwh_s constant double precision := energy_max_kw() / 3600;
    jitter constant double precision := energy_jitter_kwh();
    kwh double precision := 0;
    tv double precision := state[1]; tt double precision := state[2];
    cv double precision := state[3]; ct double precision := state[4];
    how double precision := coalesce(state[5], 0);
    t double precision; v double precision;
BEGIN
    FOR i IN 1 .. coalesce(cardinality(readings), 0) / 2 LOOP
        t := readings[2 * i - 1]; v := readings[2 * i];
        CONTINUE WHEN v IS NULL OR v <= 0;
        IF cv IS NOT NULL AND v >= cv - jitter AND v <= cv + max_kwh_s * (t - ct) + jitter
           AND (cv < tv OR v > cv) THEN
            -- The reading continues from the candidate: it is confirmed.
            IF cv < tv AND cv <= max_kwh_s * (ct - tt) + jitter THEN
                kwh := kwh + cv; how := 1;                     -- restarted: counted from zero
            ELSE
                how := CASE WHEN cv < tv THEN 3 ELSE 2 END;    -- a new baseline: nothing counted
            END IF;
            IF v > cv THEN
                kwh := kwh + v - cv; tv := v; tt := t;
            ELSE
                tv := cv; tt := ct;
            END IF;
            cv := NULL; ct := NULL;
        ELSIF tv IS NOT NULL AND v >= tv - jitter AND v <= tv + max_kwh_s * (t - tt) + jitter THEN
            IF v > tv THEN
                kwh := kwh + v - tv; tv := v; tt := t; how := 0;
            END IF;                                            -- equal, or jitter: nothing
            cv := NULL; ct := NULL;                            -- a pending candidate was a glitch
        ELSIF tv IS NULL THEN
            tv := v; tt := t; how := 0;                        -- the first reading is the baseline
        ELSE
            cv := v; ct := t;
        END IF;
    END LOOP;
    RETURN ARRAY[kwh, tv, tt, cv, ct, how];
END $$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'telemetry_hourly' AND relkind = 'r') THEN
        INSERT INTO telemetry_dirty_hours (hour) SELECT DISTINCT bucket FROM telemetry_hourly
        ON CONFLICT (hour) DO UPDATE SET marks = telemetry_dirty_hours.marks + 1;
    END IF;
END $$;
