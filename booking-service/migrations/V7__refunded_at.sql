-- When payment-service announced the booking's refund (`payment.refunded`, consumed from the
-- queue booking.refunds); a trip cancellation's progress counts its refunded bookings.
ALTER TABLE bookings ADD COLUMN refunded_at timestamptz;
CREATE INDEX bookings_refunded_trip_idx ON bookings (trip_id) WHERE refunded_at IS NOT NULL;

-- The admin booking lookup lists the events the outbox holds for a booking.
CREATE INDEX outbox_booking_idx ON outbox ((payload->>'booking_id'));
