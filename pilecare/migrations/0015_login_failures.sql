-- Failed logins per user name (known or not), so repeated guessing is slowed down across
-- every API process alike.
CREATE TABLE login_failures (
    id       bigserial PRIMARY KEY,
    user_id  text NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    address  text
);
CREATE INDEX login_failures_user_idx ON login_failures (user_id, at);
