-- Login budgets per account, per second factor and per trusted device: each failed
-- login now says what failed (`password` or `second_factor`) and, when the browser
-- presented a valid device cookie, which device tried (its failures count against that
-- device alone, so an attack on the account does not lock its owner out).
ALTER TABLE login_failures ADD COLUMN kind TEXT NOT NULL DEFAULT 'password';
ALTER TABLE login_failures ADD COLUMN device TEXT;

CREATE INDEX login_failures_device_at ON login_failures (device, at);
