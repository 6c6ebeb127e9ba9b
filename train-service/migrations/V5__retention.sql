-- The retention job (servicekit::retention) deletes dedupe records by age.
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
