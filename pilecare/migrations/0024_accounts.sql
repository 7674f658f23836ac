-- Failed logins are counted per source, not only per user name, so nobody can keep an
-- account locked by guessing at it (OWASP Authentication Cheat Sheet, "Account Lockout";
-- OWASP "Slow down online guessing attacks with device cookies"; docs/roles.md).
-- `device` is the id of the device cookie the attempt carried (a client that has logged in
-- as this user before); NULL for any other client, which is then counted by its address.
ALTER TABLE login_failures ADD COLUMN device text;
CREATE INDEX login_failures_device_idx ON login_failures (user_id, device, at) WHERE device IS NOT NULL;
CREATE INDEX login_failures_address_idx ON login_failures (user_id, address, at) WHERE device IS NULL;
