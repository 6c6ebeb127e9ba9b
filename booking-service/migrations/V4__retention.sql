-- The retention job (servicekit::retention) deletes sent rows by age.
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- The retention job (servicekit::retention) deletes dedupe records by age.
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
