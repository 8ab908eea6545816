-- The /appointments dialect (reference/carriers.md §3.1): reminder calls whose date and time
-- are free text that is only spoken, so they are not appointments with an instant.
CREATE TABLE reminder_calls (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    phone_e164  text        NOT NULL,
    name        text        NOT NULL,
    date_text   text        NOT NULL,
    time_text   text        NOT NULL,
    status      text        NOT NULL
        CHECK (status IN ('pending', 'calling', 'confirmed', 'reschedule_requested',
                          'cancelled', 'no_answer', 'aborted')),
    -- The reminder id of the reminder.due.voice event: outcomes find the call by it.
    reminder_id uuid        NOT NULL UNIQUE,
    -- The carrier's CallUUID, from the outcome.
    call_uuid   text,
    created_at  timestamptz NOT NULL,
    called_at   timestamptz,
    outcome_at  timestamptz
);

-- GET /appointments lists a tenant's calls newest first.
CREATE INDEX reminder_calls_tenant_created_idx ON reminder_calls (tenant_id, created_at DESC, id DESC);
