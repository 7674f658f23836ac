-- Issue 11: a connector (or the pile, connector 0) that reports Faulted without an error
-- code a rule knows raises the `status.faulted` alarm (rule kind `faulted`). The rule set
-- is seeded from rules.default.yaml only on first use; a set that was seeded before this
-- rule existed gets it here, with its history entry (a new version, so running maintenance
-- processes reload). Operators own the set from then on: they may edit or delete it.
WITH rule AS (
    SELECT 'status.faulted' AS id, 'faulted' AS kind,
           '{"id": "status.faulted", "kind": "faulted", "category": "other", "severity": "minor", "safety": false,
             "work_order": true, "work_order_after_s": 0, "enabled": true, "scope": "connector"}'::jsonb AS definition
    WHERE EXISTS (SELECT 1 FROM rule_changes)
      AND NOT EXISTS (SELECT 1 FROM rules WHERE id = 'status.faulted' OR kind = 'faulted')
), installed AS (
    INSERT INTO rules (id, kind, definition, updated_by) SELECT id, kind, definition, 'migration 0026' FROM rule
    RETURNING id, definition
)
INSERT INTO rule_changes (rule_id, action, definition, actor)
SELECT id, 'created', definition, 'migration 0026' FROM installed;
