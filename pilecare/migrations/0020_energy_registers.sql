-- Energy registers as the field sends them (issue 11, item 4): lifetime counters, registers
-- that restart at every session or move only at session end, a 0 placeholder right after
-- a reboot, whole-kWh steps (domain brief, "Field realities").
--
-- Energy delivered is defined ONCE, here, by energy_step: every reader (the hourly rollup,
-- preventive-maintenance usage, the pile charts) adds up its steps.

-- The energy one connector delivered between two consecutive readings of its register, kWh.
--   * cur ≤ 0 is no reading: piles report 0 as a placeholder before the meter is read after a
--     reboot (and session registers rest at 0 between sessions). Callers skip such readings,
--     so the next real reading is compared with the last real one.
--   * cur ≥ prev: the register counted cur − prev (lifetime counters, whole-kWh steps, a
--     register that moves only at session end).
--   * cur < prev: the register restarted (a session register, a replaced meter) and counted
--     cur from zero since.
--   * no prev: the first reading is the baseline, nothing delivered yet.
CREATE FUNCTION energy_step(prev double precision, cur double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
    SELECT CASE WHEN cur <= 0 OR prev <= 0 THEN 0 WHEN cur >= prev THEN cur - prev ELSE cur END
$$;

-- The aggregates collect a group's real readings as (epoch, kWh) pairs, whatever order the
-- rows come in (no ORDER BY inside the aggregate, so the TimescaleDB continuous aggregate
-- can use them too), and walk them in time order with energy_step.
CREATE FUNCTION energy_readings_add(state double precision[], at timestamptz, reading double precision)
RETURNS double precision[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN reading > 0 THEN state || ARRAY[extract(epoch FROM at)::double precision, reading] ELSE state END
$$;

-- {delivered within the group, first reading, last reading}; NULL when it had no real reading.
CREATE FUNCTION energy_readings_walk(state double precision[]) RETURNS double precision[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    WITH r AS (
        SELECT state[2 * i - 1] AS t, state[2 * i] AS v FROM generate_series(1, cardinality(state) / 2) AS i
    ), s AS (
        SELECT t, v, energy_step(lag(v) OVER (ORDER BY t, v), v) AS kwh FROM r
    )
    SELECT CASE WHEN count(*) > 0 THEN ARRAY[
        coalesce(sum(kwh), 0),
        (array_agg(v ORDER BY t, v))[1],
        (array_agg(v ORDER BY t DESC, v DESC))[1]] END
    FROM s
$$;

-- energy_register(time, energy_kwh) → {kWh delivered between the group's first and last
-- real readings, first reading, last reading}. A reader joins groups (hours) by
-- energy_step(last of the previous group, first of this one). Use it as
-- (energy_register(…))[1], [2], [3]: PostgreSQL computes identical aggregates once.
CREATE AGGREGATE energy_register(timestamptz, double precision) (
    SFUNC = energy_readings_add, STYPE = double precision[], INITCOND = '{}', FINALFUNC = energy_readings_walk);

-- The hourly rollup carries the three (pilecare/storage.py defines its query).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'telemetry_hourly' AND relkind = 'r') THEN
        -- Plain PostgreSQL: add the columns and have housekeeping recompute every stored hour.
        ALTER TABLE telemetry_hourly ADD COLUMN energy_delivered_kwh double precision,
                                     ADD COLUMN energy_first_kwh double precision,
                                     ADD COLUMN energy_last_kwh double precision;
        INSERT INTO telemetry_dirty_hours (hour) SELECT DISTINCT bucket FROM telemetry_hourly
        ON CONFLICT (hour) DO UPDATE SET marks = telemetry_dirty_hours.marks + 1;
    ELSE
        -- TimescaleDB: a continuous aggregate cannot gain columns, so it is created again with
        -- the query of storage.ROLLUP_SELECT (kept equal by tests/test_energy_registers.py).
        -- The policy re-materialises the last 3 days; older hours are rebuilt from telemetry
        -- once with CALL refresh_continuous_aggregate('telemetry_hourly', NULL, now() - INTERVAL '1 hour')
        -- (it cannot run inside this migration's transaction).
        DROP MATERIALIZED VIEW IF EXISTS telemetry_hourly;
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW telemetry_hourly
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, pile_id, connector_id,
                   count(*)        AS samples,
                   avg(power_kw)   AS power_avg_kw,
                   max(power_kw)   AS power_max_kw,
                   avg(temp_c)     AS temp_avg_c,
                   max(temp_c)     AS temp_max_c,
                   avg(voltage_v)  AS voltage_avg_v,
                   avg(current_a)  AS current_avg_a,
                   min(energy_kwh) AS energy_min_kwh,
                   max(energy_kwh) AS energy_max_kwh,
                   (energy_register(time, energy_kwh))[1] AS energy_delivered_kwh,
                   (energy_register(time, energy_kwh))[2] AS energy_first_kwh,
                   (energy_register(time, energy_kwh))[3] AS energy_last_kwh
            FROM telemetry
            GROUP BY 1, 2, 3 WITH NO DATA
        $cagg$;
        PERFORM add_continuous_aggregate_policy('telemetry_hourly', start_offset => INTERVAL '3 days',
                                                end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes');
    END IF;
END $$;

-- Energy delivered by each connector (not connector 0) of one pile in each hour of
-- [p_from, p_to), kWh: the hour's own steps plus the step from the last reading before it.
-- The one reader of the rollup's energy: preventive-maintenance usage and the charts.
CREATE FUNCTION energy_hourly(p_pile text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (bucket timestamptz, connector_id smallint, delivered_kwh double precision)
LANGUAGE sql STABLE AS $$
    SELECT h.bucket, h.connector_id,
           h.energy_delivered_kwh + coalesce(energy_step(
               coalesce(lag(h.energy_last_kwh) OVER (PARTITION BY h.connector_id ORDER BY h.bucket),
                        (SELECT b.energy_last_kwh FROM telemetry_hourly b
                         WHERE b.pile_id = p_pile AND b.connector_id = h.connector_id AND b.bucket < p_from
                           AND b.energy_last_kwh IS NOT NULL ORDER BY b.bucket DESC LIMIT 1)),
               h.energy_first_kwh), 0)
    FROM telemetry_hourly h
    WHERE h.pile_id = p_pile AND h.connector_id > 0 AND h.bucket >= p_from AND h.bucket < p_to
      AND h.energy_last_kwh IS NOT NULL
$$;

-- The same from raw telemetry, one row per real reading (sub-hour chart buckets). The reading
-- before p_from comes from its own hour, else from the rollup: a bounded look back.
CREATE FUNCTION energy_steps(p_pile text, p_from timestamptz, p_to timestamptz)
RETURNS TABLE (at timestamptz, connector_id smallint, delivered_kwh double precision)
LANGUAGE sql STABLE AS $$
    SELECT t.time, t.connector_id,
           coalesce(energy_step(coalesce(
               lag(t.energy_kwh) OVER (PARTITION BY t.connector_id ORDER BY t.time, t.energy_kwh),
               (SELECT b.energy_kwh FROM telemetry b
                WHERE b.pile_id = p_pile AND b.connector_id = t.connector_id AND b.energy_kwh > 0
                  AND b.time >= date_bin(INTERVAL '1 hour', p_from, TIMESTAMPTZ '2000-01-01') AND b.time < p_from
                ORDER BY b.time DESC, b.energy_kwh DESC LIMIT 1),
               (SELECT h.energy_last_kwh FROM telemetry_hourly h
                WHERE h.pile_id = p_pile AND h.connector_id = t.connector_id AND h.energy_last_kwh IS NOT NULL
                  AND h.bucket < date_bin(INTERVAL '1 hour', p_from, TIMESTAMPTZ '2000-01-01')
                ORDER BY h.bucket DESC LIMIT 1)),
               t.energy_kwh), 0)
    FROM telemetry t
    WHERE t.pile_id = p_pile AND t.connector_id > 0 AND t.time >= p_from AND t.time < p_to AND t.energy_kwh > 0
$$;

-- How a model's register behaves (pilecare.domain.EnergyRegister) and the smallest step it
-- moves by: the meter rule judges a register by them (maintenance/alarms/conditions.py).
ALTER TABLE pile_models
    ADD COLUMN energy_register text NOT NULL DEFAULT 'lifetime'
        CHECK (energy_register IN ('lifetime', 'session', 'session_end')),
    ADD COLUMN energy_resolution_kwh double precision NOT NULL DEFAULT 0.001
        CHECK (energy_resolution_kwh > 0 AND energy_resolution_kwh <= 10),
    ADD COLUMN register_set_by text,   -- who last set the two (PATCH /pile-models/{id}), and when
    ADD COLUMN register_set_at timestamptz;

-- Item 11: the data time a condition was last seen holding; a clock whose condition was not
-- seen for longer than the pile's silence tolerance restarts (no time across a gap counts).
ALTER TABLE rule_conditions ADD COLUMN seen_at timestamptz;
