-- One row per reminder this gateway calls for. No schema name is written here: the migration
-- runs with search_path set to the service's schema.

CREATE TABLE call_attempts (
    -- UUIDv7; the carrier gets it back in every webhook URL (?attempt=<id>).
    id                uuid PRIMARY KEY,
    -- The reminder's key across every service. Unique: a redelivered or duplicated
    -- reminder.due finds its row and never creates a second call.
    reminder_id       uuid        NOT NULL UNIQUE,
    appointment_id    uuid        NOT NULL,
    tenant_id         uuid        NOT NULL,
    -- What the call needs, copied from the event so that no webhook has to call back.
    to_number         text        NOT NULL,
    recipient_name    text        NOT NULL,
    locale            text        NOT NULL,
    time_zone         text        NOT NULL,
    business_name     text        NOT NULL,
    appointment_start timestamptz NOT NULL,
    location          text        NOT NULL,
    -- Where the attempt is in its life (README: "Attempt state machine").
    status            text        NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'placing', 'unknown', 'placed', 'in_progress', 'completed', 'failed')),
    -- Make-call requests sent so far.
    tries             integer     NOT NULL DEFAULT 0,
    -- queued: when to try; placing/unknown/placed/in_progress: when to give up waiting.
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    -- The carrier's CallUUID (make-call request_uuid).
    call_uuid         text,
    -- What the hangup callback said.
    carrier_status    text,
    hangup_cause      text,
    duration_seconds  integer,
    -- Bounded loops of the call flow: "9" replays and invalid keys.
    menu_replays      integer     NOT NULL DEFAULT 0,
    invalid_inputs    integer     NOT NULL DEFAULT 0,
    -- The terminal outcome; set once (WHERE outcome IS NULL), with its event in the outbox.
    outcome           text
        CHECK (outcome IN ('confirmed', 'reschedule_requested', 'cancelled', 'no_answer', 'busy', 'failed')),
    outcome_detail    text,
    outcome_at        timestamptz,
    last_error        text,
    -- W3C trace context of the reminder.due that created the row, so the call joins its trace.
    traceparent       text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- The dialer's claim: queued attempts that are due.
CREATE INDEX call_attempts_due_idx ON call_attempts (next_attempt_at) WHERE status = 'queued';

-- The watchdog: attempts waiting on the carrier without an outcome.
CREATE INDEX call_attempts_waiting_idx ON call_attempts (next_attempt_at)
    WHERE outcome IS NULL AND status IN ('placing', 'unknown', 'placed', 'in_progress');

-- Webhook nonces seen recently: a signed request whose nonce is here is a replay. Shared by
-- every replica through the unique key; rows older than the replay window are pruned.
CREATE TABLE webhook_nonces (
    nonce   text PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX webhook_nonces_seen_at_idx ON webhook_nonces (seen_at);
