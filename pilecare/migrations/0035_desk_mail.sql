-- Issue 13, the service desk's e-mail channel (R-INTAKE): mail to customers goes through the
-- outbox like every other message, written in the transaction that records it in the
-- request's thread and delivered after commit with bounded retries and an outcome row
-- (maintenance/outbox/mail.py, delivery.py).

-- What an outbound mail says. Its outbox row (event request.mail) carries only ids, so the
-- console's event stream and webhooks never see a customer's address or the text; the
-- email delivery reads this row.
CREATE TABLE outbox_mail (
    outbox_id   bigint PRIMARY KEY REFERENCES outbox (id),
    mail_to     text NOT NULL,
    subject     text NOT NULL,
    message_id  text NOT NULL,                 -- without angle brackets; the thread's row has it too
    in_reply_to text,
    refs        text[] NOT NULL DEFAULT '{}',  -- the References header, oldest first
    body        text NOT NULL
);

ALTER TABLE deliveries DROP CONSTRAINT deliveries_channel_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_channel_check CHECK (channel IN ('mqtt', 'webhook', 'email'));
