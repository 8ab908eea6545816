-- Issue 4: data-driven call workflows, per-tenant voice settings, opt-outs, and one call
-- attempt per (reminder, attempt number).

-- Call workflows (docs/voice.md "Workflow format"). Rows are immutable: a change is a new
-- version, so a call in progress keeps the definition it started with.
CREATE TABLE workflows (
    id          uuid PRIMARY KEY,
    -- NULL for the built-in workflows shipped with the gateway.
    tenant_id   uuid,
    name        text        NOT NULL,
    version     integer     NOT NULL CHECK (version >= 1),
    definition  jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- NULLS NOT DISTINCT: the built-in row (tenant NULL) is unique too, so storing it at every
    -- start-up is idempotent.
    CONSTRAINT workflows_tenant_name_version_key UNIQUE NULLS NOT DISTINCT (tenant_id, name, version)
);

-- The tenant's voice settings, from tenant.settings_changed (highest version wins).
CREATE TABLE tenant_settings (
    tenant_id            uuid PRIMARY KEY,
    version              bigint      NOT NULL,
    -- Minutes after local midnight, [start, end).
    window_start_minute  integer     NOT NULL,
    window_end_minute    integer     NOT NULL,
    -- Empty: the gateway's CALLBACK_NUMBER.
    callback_number      text        NOT NULL DEFAULT '',
    -- [{"name", "language", "text"}]
    templates            jsonb       NOT NULL DEFAULT '[]'::jsonb,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Numbers that pressed 8: no further reminder call from this tenant.
CREATE TABLE opt_outs (
    tenant_id   uuid        NOT NULL,
    phone       text        NOT NULL,
    reminder_id uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone)
);

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_reminder_id_key;
ALTER TABLE call_attempts ADD COLUMN attempt integer NOT NULL DEFAULT 1 CHECK (attempt >= 1);
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_reminder_attempt_key UNIQUE (reminder_id, attempt);
-- The /appointments dialect sends the time as text only.
ALTER TABLE call_attempts ALTER COLUMN appointment_start DROP NOT NULL;
ALTER TABLE call_attempts ADD COLUMN spoken_when text NOT NULL DEFAULT '';
-- The workflow the call runs, and where in it the call is.
ALTER TABLE call_attempts ADD COLUMN workflow_id uuid REFERENCES workflows (id);
ALTER TABLE call_attempts ADD COLUMN current_node text;
-- Counts every answered step; a webhook naming an older step is a duplicate or stale.
ALTER TABLE call_attempts ADD COLUMN flow_step integer NOT NULL DEFAULT 0;
-- Invalid inputs at the current gather; gathers played in the whole call.
ALTER TABLE call_attempts ADD COLUMN node_retries integer NOT NULL DEFAULT 0;
ALTER TABLE call_attempts ADD COLUMN gathers_played integer NOT NULL DEFAULT 0;
ALTER TABLE call_attempts DROP COLUMN menu_replays;
ALTER TABLE call_attempts DROP COLUMN invalid_inputs;

ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check CHECK (outcome IN (
    'confirmed', 'reschedule_requested', 'cancelled', 'no_answer', 'busy', 'failed',
    'opted_out', 'machine', 'expired'));
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_status_check;
-- dropped: a queued attempt whose appointment was cancelled before it was placed.
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_status_check CHECK (status IN (
    'queued', 'placing', 'unknown', 'placed', 'in_progress', 'completed', 'failed', 'dropped'));

CREATE INDEX call_attempts_appointment_idx ON call_attempts (appointment_id) WHERE status = 'queued';
