-- Payment outcomes as booking-service records them (payment-service owns the payments).
ALTER TABLE bookings ADD COLUMN paid_at timestamptz;
ALTER TABLE bookings ADD COLUMN payment_failure text;
-- Ticket codes are unguessable random strings; unique so a code names one booking.
CREATE UNIQUE INDEX bookings_ticket_code_key ON bookings (ticket_code) WHERE ticket_code IS NOT NULL;
