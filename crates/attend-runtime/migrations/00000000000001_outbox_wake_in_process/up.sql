-- A writer whose process runs the schema's relay wakes it in-process after its commit and sets
-- attend.outbox_wake = 'in_process' for its transaction (attend_runtime::outbox::RelayWake):
-- then the trigger does not NOTIFY. NOTIFY serialises committing transactions (Postgres holds
-- a database-wide lock from PreCommit_Notify through the commit's WAL flush), which capped
-- every service's event-writing transactions at about 1,660/s on the bench machine; see
-- docs/benchmarks.md. Writers that do not set it notify as before, and the relays keep
-- LISTENing for them. The setting is transaction-local; current_setting(..., true) is NULL
-- before a session first sets it and '' after, both of which mean "notify".
CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('attend.outbox_wake', true) IS DISTINCT FROM 'in_process' THEN
        PERFORM pg_notify('attend_outbox_' || TG_TABLE_SCHEMA, '');
    END IF;
    RETURN NULL;
END;
$$;
