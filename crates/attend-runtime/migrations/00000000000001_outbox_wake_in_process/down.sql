CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('attend_outbox_' || TG_TABLE_SCHEMA, '');
    RETURN NULL;
END;
$$;
