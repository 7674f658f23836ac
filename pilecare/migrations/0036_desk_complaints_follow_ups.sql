-- Issue 13, items 4 and 5: the complaint lifecycle (R-COMPLAINT) and follow-ups after
-- finished jobs and resolved requests (R-FOLLOWUP). See maintenance/servicedesk/complaints.py
-- and follow_ups.py; the tables themselves are in 0034_service_desk.sql.

-- What a complaint is about (complaints.Category) and which plan it is on: a follow-up the
-- customer is not satisfied with reopens the complaint for a new plan (round + 1), whose
-- measures carry that round.
ALTER TABLE complaints ADD CONSTRAINT complaints_category_check
    CHECK (category IN ('response_time', 'repair_quality', 'conduct', 'product', 'parts', 'billing', 'other'));
ALTER TABLE complaints ADD COLUMN round smallint NOT NULL DEFAULT 1 CHECK (round >= 1);
ALTER TABLE complaints ADD CONSTRAINT complaints_engineer_check
    CHECK (engineer_id IS NULL OR responsible_party = 'engineer');
ALTER TABLE complaint_measures ADD COLUMN done_by text;
-- The analysis counts by period, category, engineer and cause.
CREATE INDEX complaints_created_idx ON complaints (created_at);

-- A complaint's follow-up that is no longer asked: a supervisor closed the complaint first.
-- It leaves the agents' queue and its survey link answers 409.
ALTER TABLE follow_ups ADD COLUMN withdrawn_at timestamptz;
ALTER TABLE follow_ups ADD COLUMN withdrawn_by text;
ALTER TABLE follow_ups ADD CONSTRAINT follow_ups_done_or_withdrawn_check
    CHECK (done_at IS NULL OR withdrawn_at IS NULL);

-- The desk learns of finished jobs from the outbox and of resolved requests from their
-- timeline. Both are read in (txid, id) order and only from finished transactions, like the
-- console's event stream (0009_deliveries.sql): bigserial ids are handed out in call order,
-- not commit order, so a cursor on the id alone would skip an order resolved by a
-- transaction that committed after a later one.
ALTER TABLE request_events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE desk_cursor ADD COLUMN last_outbox_txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE desk_cursor ADD COLUMN last_request_event_txid xid8 NOT NULL DEFAULT '0';
ALTER TABLE desk_cursor ADD COLUMN last_request_event_id bigint NOT NULL DEFAULT 0;
-- Only the rows the desk reads: orders' moves (it follows up those entering 'resolved'; a
-- request's linked order tells the request of the others) and requests entering 'resolved'.
CREATE INDEX outbox_order_moves_idx ON outbox (txid, id) WHERE event = 'work_order.updated';
CREATE INDEX request_events_resolved_idx ON request_events (txid, id) WHERE to_state = 'resolved';
-- The history before the desk is not called back: the desk starts reading at the present.
-- (xid8 has no max() before PostgreSQL 16.)
UPDATE desk_cursor SET (last_outbox_txid, last_outbox_id) =
    (SELECT coalesce((SELECT txid FROM outbox ORDER BY txid DESC, id DESC LIMIT 1), '0'),
            coalesce((SELECT id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1), 0));
