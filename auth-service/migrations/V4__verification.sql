-- "One account per citizen": a phone is verified by a successful OTP login; an NID is stored
-- only as a keyed hash (HMAC-SHA256 under the server's NID key) and a masked form.
ALTER TABLE users
    ADD COLUMN phone_verified  boolean NOT NULL DEFAULT false,
    ADD COLUMN nid_hash        text,
    ADD COLUMN nid_masked      text,
    ADD COLUMN nid_verified_at timestamptz,
    ADD CONSTRAINT users_nid_hash_key UNIQUE (nid_hash),
    ADD CONSTRAINT users_nid_complete CHECK ((nid_hash IS NULL) = (nid_masked IS NULL));
