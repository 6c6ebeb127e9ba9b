-- Several roles per account. `passenger` is everyone's and never stored: `roles` holds the
-- others (written from a set: each once, in a stable order). The old `role` column stays, computed from `roles`, so that a
-- previous release still running beside this one during an upgrade reads its admins.
ALTER TABLE users
    ADD COLUMN roles text[] NOT NULL DEFAULT '{}'
        CONSTRAINT users_roles_known CHECK (roles <@ ARRAY['conductor', 'admin']::text[]);
UPDATE users SET roles = ARRAY['admin'] WHERE role = 'admin';
ALTER TABLE users DROP COLUMN role;
ALTER TABLE users
    ADD COLUMN role text GENERATED ALWAYS AS
        (CASE WHEN 'admin' = ANY (roles) THEN 'admin' ELSE 'user' END) STORED;
-- "Is this the last admin?" reads the admins only.
CREATE INDEX users_admins_idx ON users (id) WHERE 'admin' = ANY (roles);
