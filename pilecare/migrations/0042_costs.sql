-- Costs and budgets (R-COST, R-WARRANTY; issue 14 items 6 and 7): each engineer's hourly
-- rate, expenses (per job or general), budgets per month and category, and the manager's
-- approvals of spending beyond them. See maintenance/costs/ and docs/costs.md.

-- The engineer's labour rate for job costs; null: the policy's pricing.labour_per_h (the one
-- rate definition quotes use too). Who set it and when, beside it.
ALTER TABLE engineers
    ADD COLUMN hourly_rate        numeric(8, 2) CHECK (hourly_rate >= 0),
    ADD COLUMN hourly_rate_set_by text,
    ADD COLUMN hourly_rate_set_at timestamptz;

-- The regulations' budget categories (R-COST), the one vocabulary of budgets, approvals and
-- expenses (costs.BudgetCategory).
CREATE DOMAIN budget_category AS text
    CHECK (VALUE IN ('staff', 'training', 'parts_purchasing', 'travel', 'office', 'equipment_upkeep'));

-- Money spent outside the stock ledger and the job's measured labour and travel: a job's
-- parking, tolls or hotel (work_order_id set), or the office's, training's and equipment
-- upkeep's bills. Never changed or deleted: a correction is a new row with a negative amount
-- and a note (the books keep both).
CREATE TABLE expenses (
    id            bigserial PRIMARY KEY,
    category      budget_category NOT NULL,
    amount        numeric(12, 2) NOT NULL CHECK (amount <> 0),
    spent_on      date NOT NULL,
    work_order_id bigint REFERENCES work_orders (id),
    note          text NOT NULL CHECK (note <> ''),
    recorded_by   text NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX expenses_month_idx ON expenses (spent_on, category);
CREATE INDEX expenses_order_idx ON expenses (work_order_id) WHERE work_order_id IS NOT NULL;

CREATE FUNCTION expense_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'expenses are never changed or deleted: record a correction'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER expenses_immutable BEFORE UPDATE OR DELETE ON expenses
    FOR EACH ROW EXECUTE FUNCTION expense_immutable();

-- A budget per month (its first day) and category.
CREATE TABLE budgets (
    period     date NOT NULL CHECK (extract(day FROM period) = 1),
    category   budget_category NOT NULL,
    amount     numeric(14, 2) NOT NULL CHECK (amount >= 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (period, category)
);
-- Every change of a budget, who and when (a deleted budget: new_amount null).
CREATE TABLE budget_changes (
    id         bigserial PRIMARY KEY,
    period     date NOT NULL,
    category   budget_category NOT NULL,
    old_amount numeric(14, 2),
    new_amount numeric(14, 2),
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_changes_period_idx ON budget_changes (period, category, id);

-- A manager's approval of spending beyond a month's budget (R-COST: prior approval): it
-- raises what the category may spend that month by `amount`.
CREATE TABLE budget_approvals (
    id          bigserial PRIMARY KEY,
    period      date NOT NULL CHECK (extract(day FROM period) = 1),
    category    budget_category NOT NULL,
    amount      numeric(14, 2) NOT NULL CHECK (amount > 0),
    reason      text NOT NULL CHECK (reason <> ''),
    approved_by text NOT NULL,
    approved_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX budget_approvals_period_idx ON budget_approvals (period, category);
