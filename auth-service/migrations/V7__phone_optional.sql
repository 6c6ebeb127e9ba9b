-- An operator account made on the command line (`auth-service admin create --email E
-- --password P`) may have no phone: it signs in by e-mail and password only (no OTP, no
-- waiting room). Registration still requires one; UNIQUE ignores NULLs.
ALTER TABLE users ALTER COLUMN phone DROP NOT NULL;
