-- The booking a notification is about, so that a consistency check (and support staff) can
-- see which booking got which ticket.
ALTER TABLE notifications ADD COLUMN booking_id uuid;
CREATE INDEX notifications_booking_idx ON notifications (booking_id) WHERE booking_id IS NOT NULL;
