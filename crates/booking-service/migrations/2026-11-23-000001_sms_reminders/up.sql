-- Who or what an appointment is with, as free text (the /reminder dialect's `participant`,
-- "Joe", "Dr. Lee"). Slot bookings leave it NULL: their agent is the participant.
ALTER TABLE appointments ADD COLUMN participant text;

-- The /reminder dialect (reference/carriers.md §3.2): each SMS reminder it created is a
-- native free-form appointment with one SMS reminder; this maps the dialect's 32-hex id to
-- it and keeps what the dialect answers but the appointment does not hold.
CREATE TABLE sms_reminders (
    -- Shown as 32 lowercase hex digits (a UUIDv4 without dashes).
    reminder_id        uuid PRIMARY KEY,
    tenant_id          uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    appointment_id     uuid        NOT NULL UNIQUE REFERENCES appointments (id) ON DELETE CASCADE,
    -- The offset appointment_time was written in, for appt_user_dt.
    utc_offset_seconds integer     NOT NULL CHECK (utc_offset_seconds BETWEEN -43200 AND 50400),
    -- As the caller sent them (the appointment holds them trimmed, NULL when empty).
    location           text CHECK (char_length(location) <= 128),
    participant        text CHECK (char_length(participant) <= 256),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- GET /reminder lists a tenant's reminders oldest first, as the original's table scan did.
CREATE INDEX sms_reminders_tenant_created_idx ON sms_reminders (tenant_id, created_at, reminder_id);
