-- When the railway cancelled the trip (booking-service's `trip.cancelled`): search no longer
-- lists it. NULL while the trip runs.
ALTER TABLE trips ADD COLUMN cancelled_at timestamptz;
