-- The periodic reconciliation of Redis against PostgreSQL reads the trips with a booking
-- created or changed recently.
CREATE INDEX bookings_updated_idx ON bookings (updated_at);
