-- A trip's ever-paid bookings: the conductor's manifest (GET /api/tickets/trips/{id}/manifest)
-- reads them without scanning every booking.
CREATE INDEX bookings_paid_trip_idx ON bookings (trip_id) WHERE paid_at IS NOT NULL;
