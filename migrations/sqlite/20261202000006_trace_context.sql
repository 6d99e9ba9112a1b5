-- The trace an event's receipt began (a W3C `traceparent`), so the worker that hydrates it
-- and each sink that delivers the change continue it. NULL when traces are off.
ALTER TABLE inbox_events ADD COLUMN trace_context TEXT;
ALTER TABLE sink_deliveries ADD COLUMN trace_context TEXT;
