-- Issue 5: SMS reminders, their conversations, every message both ways, the tenant settings
-- copy and consent. No schema name is written: the migration runs with search_path on `sms`.

-- One row per reminder attempt: the conversation its reply belongs to.
CREATE TABLE reminders (
    id                   uuid PRIMARY KEY,
    reminder_id          uuid        NOT NULL,
    attempt              integer     NOT NULL CHECK (attempt >= 1),
    appointment_id       uuid        NOT NULL,
    tenant_id            uuid        NOT NULL,
    -- E.164; the number the reply comes from.
    to_number            text        NOT NULL,
    -- E.164; the number it was sent from, which the reply is addressed to.
    from_number          text        NOT NULL,
    recipient_name       text        NOT NULL,
    locale               text        NOT NULL,
    time_zone            text        NOT NULL,
    business_name        text        NOT NULL,
    business_time_zone   text        NOT NULL,
    appointment_start    timestamptz NOT NULL,
    location             text        NOT NULL,
    participant          text        NOT NULL,
    -- queued -> sent | failed | suppressed | expired | cancelled.
    status               text        NOT NULL CHECK (status IN
        ('queued', 'sent', 'failed', 'suppressed', 'expired', 'cancelled')),
    -- The final answer; never changes once set.
    answer               text CHECK (answer IN ('confirmed', 'cancelled', 'opted_out')),
    answered_at          timestamptz,
    -- Replies that were not an answer; the unparsable message goes out for the first two only.
    unparsable_replies   integer     NOT NULL DEFAULT 0,
    sent_at              timestamptz,
    traceparent          text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reminders_reminder_attempt_key UNIQUE (reminder_id, attempt)
);

-- A reply answers the latest outstanding reminder sent to its number from its sender.
CREATE INDEX reminders_conversation_idx ON reminders (to_number, from_number, sent_at DESC);
CREATE INDEX reminders_appointment_idx ON reminders (appointment_id);

-- Every outbound text: reminders and the answers to replies. The sender claims queued rows.
CREATE TABLE outbound_messages (
    id               uuid PRIMARY KEY,
    tenant_id        uuid        NOT NULL,
    -- The conversation, when the text belongs to one.
    reminder_row_id  uuid REFERENCES reminders (id),
    -- reminder | confirmed | cancelled | unparsable | opted_out | opted_in | help | no_pending
    kind             text        NOT NULL,
    from_number      text        NOT NULL,
    to_number        text        NOT NULL,
    -- Rendered when the message is queued (answers) or claimed for sending (reminders).
    body             text        NOT NULL DEFAULT '',
    -- queued -> sending -> sent | failed | cancelled; sending -> queued on a retryable error.
    status           text        NOT NULL CHECK (status IN
        ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    tries            integer     NOT NULL DEFAULT 0,
    next_try_at      timestamptz NOT NULL DEFAULT now(),
    provider_ref     text,
    segments         integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);

-- The sender's claim reads only queued rows; the literal 'queued' keeps this index usable.
CREATE INDEX outbound_messages_queued_idx ON outbound_messages (next_try_at) WHERE status = 'queued';
-- Rows left `sending` by a crash are found by age.
CREATE INDEX outbound_messages_sending_idx ON outbound_messages (next_try_at) WHERE status = 'sending';
CREATE INDEX outbound_messages_reminder_idx ON outbound_messages (reminder_row_id);

-- Every inbound text, once: carriers deliver the same webhook twice at times.
CREATE TABLE inbound_messages (
    id            uuid PRIMARY KEY,
    carrier       text        NOT NULL,
    provider_ref  text        NOT NULL,
    tenant_id     uuid,
    from_number   text        NOT NULL,
    to_number     text        NOT NULL,
    body          text        NOT NULL,
    -- What the parser made of it and what was done.
    reply         text        NOT NULL,
    handling      text        NOT NULL,
    reminder_row_id uuid REFERENCES reminders (id),
    received_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inbound_messages_carrier_ref_key UNIQUE (carrier, provider_ref)
);

-- The "no pending appointment" answer goes out at most once a day per number and sender.
CREATE TABLE no_pending_notices (
    to_number    text NOT NULL,
    from_number  text NOT NULL,
    day          date NOT NULL,
    PRIMARY KEY (to_number, from_number, day)
);

-- Appointments cancelled before (or while) their reminder arrived: it is never sent.
CREATE TABLE cancelled_appointments (
    appointment_id uuid PRIMARY KEY,
    tenant_id      uuid        NOT NULL,
    cancelled_at   timestamptz NOT NULL DEFAULT now()
);

-- The tenant's SMS settings, from tenant.settings_changed (highest version wins).
CREATE TABLE tenant_settings (
    tenant_id            uuid PRIMARY KEY,
    version              bigint      NOT NULL,
    window_start_minute  integer     NOT NULL,
    window_end_minute    integer     NOT NULL,
    max_segments         integer     NOT NULL,
    -- Empty: the service's SMS_FROM_NUMBER.
    from_number          text        NOT NULL DEFAULT '',
    help_contact         text        NOT NULL DEFAULT '',
    -- [{"name", "language", "text"}]
    templates            jsonb       NOT NULL DEFAULT '[]'::jsonb,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Consent: who revoked it, how, and from which message.
ALTER TABLE opt_outs ADD COLUMN source text NOT NULL DEFAULT 'sms_keyword';
ALTER TABLE opt_outs ADD COLUMN keyword text NOT NULL DEFAULT '';
