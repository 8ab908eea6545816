-- Issue 7: robo-call batches. Integrators create workflows and submit batches of calls through
-- /voicebot/v1 with the tenant's Bearer key; each batch ends with one signed callback.

-- The tenant API keys, replicated from booking-service (tenant.api_key_issued / _revoked):
-- /voicebot/v1 authenticates against these hashes and never reads booking's schema.
CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    -- SHA-256 of the whole key. NULL while only the key's revocation has arrived (events of
    -- two routing keys are not ordered).
    key_hash    bytea       UNIQUE,
    key_prefix  text        NOT NULL DEFAULT '',
    issued_at   timestamptz,
    revoked_at  timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Where a tenant's batch callbacks go, and the secret that signs them (the gateway signs, so
-- it needs the secret itself, not a hash).
CREATE TABLE integrator_settings (
    tenant_id          uuid PRIMARY KEY,
    callback_url       text,
    callback_secret    text        NOT NULL,
    secret_created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

-- Robo-call workflows live next to the reminder workflow: `kind` keeps a tenant's robocall
-- workflow from ever being picked as its reminder workflow. Deleting one hides it from the API
-- but keeps the immutable row for the batches that run it.
ALTER TABLE workflows ADD COLUMN kind text NOT NULL DEFAULT 'reminder'
    CHECK (kind IN ('reminder', 'robocall'));
ALTER TABLE workflows ADD COLUMN deleted_at timestamptz;

CREATE TABLE call_batches (
    -- The batch_id integrators see; also the callback's request_id.
    id                     uuid PRIMARY KEY,
    tenant_id              uuid        NOT NULL,
    workflow_id            uuid        NOT NULL REFERENCES workflows (id),
    -- The request's Idempotency-Key header and the SHA-256 of its body: a retried POST finds
    -- its batch instead of calling everyone twice.
    idempotency_key        text,
    request_sha256         bytea       NOT NULL,
    tts_voice_accent       text        NOT NULL,
    tts_voice_gender       text        NOT NULL,
    -- What the accent and gender map to at the carrier (<Speak voice language>).
    speak_voice            text        NOT NULL,
    speak_language         text        NOT NULL,
    -- The options the workflow offers ("1", "2", …): each has its replied_option_<n>_count.
    options                text[]      NOT NULL,
    total_calls            integer     NOT NULL CHECK (total_calls > 0),
    -- Calls without a result yet; the transaction that takes it to 0 completes the batch.
    pending_calls          integer     NOT NULL CHECK (pending_calls >= 0),
    status                 text        NOT NULL DEFAULT 'processing'
        CHECK (status IN ('processing', 'completed')),
    created_at             timestamptz NOT NULL DEFAULT now(),
    completed_at           timestamptz,
    -- The completion callback: waiting (batch running), pending (to send or retry),
    -- delivered, failed (gave up), not_configured (no callback URL when the batch completed).
    callback_status        text        NOT NULL DEFAULT 'waiting'
        CHECK (callback_status IN ('waiting', 'pending', 'delivered', 'failed', 'not_configured')),
    -- The exact JSON sent, fixed at completion: every retry sends the same bytes.
    callback_body          text,
    callback_attempts      integer     NOT NULL DEFAULT 0,
    callback_next_at       timestamptz,
    callback_give_up_at    timestamptz,
    callback_last_status   integer,
    callback_last_error    text,
    callback_delivered_at  timestamptz,
    CONSTRAINT call_batches_idempotency_key UNIQUE (tenant_id, idempotency_key)
);

CREATE INDEX call_batches_callback_due_idx ON call_batches (callback_next_at)
    WHERE callback_status = 'pending';

-- A batch call is a call attempt (so it shares the dialer, the webhooks and their guarantees)
-- without a reminder; its batch data lives in batch_calls, one row per attempt.
ALTER TABLE call_attempts ALTER COLUMN reminder_id DROP NOT NULL;
ALTER TABLE call_attempts ALTER COLUMN appointment_id DROP NOT NULL;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_reminder_check
    CHECK ((reminder_id IS NULL) = (appointment_id IS NULL));

CREATE TABLE batch_calls (
    -- The call_id integrators see; the attempt that places the call has the same id.
    id               uuid PRIMARY KEY REFERENCES call_attempts (id),
    batch_id         uuid        NOT NULL REFERENCES call_batches (id),
    tenant_id        uuid        NOT NULL,
    -- The entry's index in workflow_params: calls are placed in this order.
    position         integer     NOT NULL,
    phone_number     text        NOT NULL,
    user_tags        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    variables        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The option pressed ("1", …), recorded when the workflow ends at an option.
    option_selected  text,
    -- How the call ended, written once: the transaction that writes it counts the batch down.
    result           text
        CHECK (result IN ('completed', 'no_reply', 'timeout', 'busy', 'failed')),
    result_detail    text,
    duration_seconds integer,
    settled_at       timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT batch_calls_position_key UNIQUE (batch_id, position)
);

-- The dialer's two queues: reminders first, then batch calls per tenant in batch order.
DROP INDEX call_attempts_due_idx;
CREATE INDEX call_attempts_due_idx ON call_attempts (next_attempt_at)
    WHERE status = 'queued' AND reminder_id IS NOT NULL;
CREATE INDEX call_attempts_batch_due_idx ON call_attempts (tenant_id, next_attempt_at)
    WHERE status = 'queued' AND reminder_id IS NULL;
-- Calls that hold a line at the carrier, counted against the caps before each claim.
CREATE INDEX call_attempts_active_idx ON call_attempts (tenant_id)
    WHERE status IN ('placing', 'unknown', 'placed', 'in_progress');

-- The pace of make-call requests, shared by every replica (GCRA: the theoretical arrival time
-- of the next request). Claims lock this row, which also serialises the concurrency caps.
CREATE TABLE dial_pacer (
    id                  smallint    PRIMARY KEY CHECK (id = 1),
    theoretical_arrival timestamptz NOT NULL
);
INSERT INTO dial_pacer (id, theoretical_arrival) VALUES (1, now());
