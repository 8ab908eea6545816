-- Reminder policies (docs/reminder-policies.md): per appointment type a plan (reminders before
-- the start, a follow-up after the end, the no-show message's channel) and its message
-- templates per channel, kind and language; per appointment its metadata and the no-show;
-- per reminder its kind and the text chosen for it; the consent heard by the channels, for
-- `sendEligibleSubscribersOnly`; and the `/events/reminders` dialect's records.

-- The whole policy of one type, validated on save and stored as the normalized JSON the API
-- shows (the same shape is read back), so that a policy is replaced in one statement.
CREATE TABLE appointment_type_policies (
    appointment_type_id uuid PRIMARY KEY REFERENCES appointment_types (id) ON DELETE CASCADE,
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    policy              jsonb       NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE appointments
    -- Free-form values for {metadata.key} placeholders (string values only).
    ADD COLUMN metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN no_show_at   timestamptz;

ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check CHECK (status IN (
    'scheduled', 'confirmed', 'reschedule_requested', 'cancelled', 'no_show'));

ALTER TABLE appointment_reminders
    ADD COLUMN kind              text NOT NULL DEFAULT 'reminder'
        CHECK (kind IN ('reminder', 'follow_up', 'no_show')),
    -- The tenant's text chosen for the recipient's language; NULL means the channel's own.
    ADD COLUMN template          text,
    ADD COLUMN fallback_channel  text CHECK (fallback_channel IN ('sms')),
    ADD COLUMN fallback_template text;

-- Who opted out of which channel, from `subscriber.opted_out` / `.opted_in`. The channels
-- enforce consent themselves at send time; this copy lets a request that demands eligible
-- subscribers only be refused up front.
CREATE TABLE subscriber_opt_outs (
    tenant_id    uuid        NOT NULL,
    phone_e164   text        NOT NULL,
    channel      text        NOT NULL CHECK (channel IN ('voice', 'sms')),
    source       text        NOT NULL,
    opted_out_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, phone_e164, channel)
);

-- The `/events/reminders` dialect: one row per reminder it created, keyed by the uuid it
-- answers with, over an appointment of the native model.
CREATE TABLE event_reminders (
    id                        uuid PRIMARY KEY,
    tenant_id                 uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    appointment_id            uuid        NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    -- Deduplicates per subscriber: the same event sent twice is one reminder.
    external_event_id         text,
    phone_e164                text        NOT NULL,
    -- The phone as the client sent it, echoed back.
    phone                     text        NOT NULL,
    first_name                text,
    last_name                 text,
    email_address             text,
    event_type_id             uuid        NOT NULL REFERENCES appointment_types (id),
    -- Echoed back: as sent, else the type policy's first offset, else PT3H; ISO 8601.
    remind_time_offset        text        NOT NULL,
    -- Whether the client sent it (then it overrides the policy's plan on every update).
    remind_offset_sent        boolean     NOT NULL DEFAULT false,
    follow_up_time_offset     text,
    -- Local to subscriber_time_zone, as sent: 2021-01-06T16:50:00.
    event_date_time           text        NOT NULL,
    subscriber_time_zone      text        NOT NULL,
    send_eligible_only        boolean     NOT NULL DEFAULT false,
    metadata                  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    status                    text        NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'cancelled', 'no_show')),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX event_reminders_external_idx
    ON event_reminders (tenant_id, phone_e164, external_event_id)
    WHERE external_event_id IS NOT NULL;
