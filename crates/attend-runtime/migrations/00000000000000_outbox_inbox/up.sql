-- The transactional outbox and the consumer inbox every service owns in its own schema.
-- No schema name is written here: the migration runs with search_path set to the service's schema.

CREATE TABLE outbox (
    -- The event id (UUIDv7, so ordering by id is ordering by creation) and AMQP message_id.
    id              uuid PRIMARY KEY,
    event_type      text        NOT NULL,
    routing_key     text        NOT NULL,
    tenant_id       uuid,
    payload         bytea       NOT NULL,
    traceparent     text,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    -- Publishing attempts that failed (unroutable, nacked); each backs off before the next.
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text
);

CREATE INDEX outbox_ready_idx ON outbox (next_attempt_at, id);

-- Wakes the relay as soon as a transaction that wrote events commits (NOTIFY is delivered at
-- commit). The channel is per schema because every service shares one database.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('attend_outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify_after_insert
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE inbox (
    -- The AMQP message_id of an event this service has applied.
    message_id  uuid PRIMARY KEY,
    event_type  text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
