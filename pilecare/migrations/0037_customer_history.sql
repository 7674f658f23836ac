-- Issue 13, R-INFO: a customer's service history reads its complaints and follow-ups by
-- customer (GET /customers/{id}/history); requests have their index in 0034.
CREATE INDEX complaints_customer_idx ON complaints (customer_id, created_at);
CREATE INDEX follow_ups_customer_idx ON follow_ups (customer_id);
