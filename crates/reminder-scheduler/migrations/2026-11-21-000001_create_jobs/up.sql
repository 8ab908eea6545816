-- The scheduler's state: what it knows about each appointment, and one job per reminder.
-- No schema name is written here: the migration runs with search_path set to the service's
-- schema (`scheduler` in production, the same name inside each test database).

CREATE TABLE appointments (
    appointment_id   uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    -- NULL only for a tombstone: a cancellation that arrived before the appointment was known.
    start            timestamptz,
    -- 'cancelled' is final: a late appointment.scheduled or .rescheduled adds no reminder.
    status           text        NOT NULL CHECK (status IN ('active', 'cancelled')),
    -- Reschedules applied; a late appointment.scheduled for a rescheduled appointment is stale.
    reschedule_count integer     NOT NULL DEFAULT 0 CHECK (reschedule_count >= 0),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reminder_jobs (
    -- Assigned by booking-service; the reminder's key across every service.
    reminder_id         uuid PRIMARY KEY,
    appointment_id      uuid        NOT NULL REFERENCES appointments (appointment_id) ON DELETE CASCADE,
    tenant_id           uuid        NOT NULL,
    channel             text        NOT NULL CHECK (channel IN ('voice', 'sms')),
    due_at              timestamptz NOT NULL,
    -- pending -> dispatched | expired | cancelled; pending | dispatched -> completed.
    status              text        NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'dispatched', 'completed', 'cancelled', 'expired')),
    attempt             integer     NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    -- Denormalized from the appointment event so that reminder.due carries everything the
    -- channel needs without a call back to booking-service.
    recipient_name      text        NOT NULL,
    recipient_phone     text        NOT NULL,
    recipient_locale    text        NOT NULL,
    recipient_time_zone text        NOT NULL,
    business_name       text        NOT NULL,
    appointment_start   timestamptz NOT NULL,
    location            text        NOT NULL,
    -- W3C trace context of the event that planned the job; reminder.due continues that trace.
    traceparent         text,
    cancel_reason       text CHECK (cancel_reason IN ('superseded', 'appointment_cancelled')),
    outcome             text CHECK (outcome IN ('confirmed', 'reschedule_requested', 'cancelled',
        'no_answer', 'busy', 'failed', 'opted_out', 'machine')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    dispatched_at       timestamptz,
    completed_at        timestamptz,
    CONSTRAINT reminder_jobs_outcome_iff_completed CHECK ((status = 'completed') = (outcome IS NOT NULL)),
    CONSTRAINT reminder_jobs_cancel_reason_iff_cancelled CHECK ((status = 'cancelled') = (cancel_reason IS NOT NULL))
);

-- The dispatcher's claim and its "when is the next one due" both read only pending jobs, which
-- stay few while completed history grows; the queries write the literal 'pending' so the
-- planner can always use this index.
CREATE INDEX reminder_jobs_pending_due_idx ON reminder_jobs (due_at) WHERE status = 'pending';

-- Cancelling or superseding the jobs of one appointment.
CREATE INDEX reminder_jobs_appointment_idx ON reminder_jobs (appointment_id);
