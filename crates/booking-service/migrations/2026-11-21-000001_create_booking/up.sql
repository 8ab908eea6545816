-- Tenants, their API keys, customers, appointments and the reminders planned for them.

CREATE TABLE tenants (
    id              uuid PRIMARY KEY,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- ISO 3166 region used to read phone numbers written without a country code.
    default_region  text        NOT NULL DEFAULT 'US',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The first characters of the key, to recognise it in listings; never the whole key.
    key_prefix  text        NOT NULL,
    -- SHA-256 of the whole key. Keys are 256-bit random, so a fast hash is the right one.
    key_hash    bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE customers (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    phone_e164  text        NOT NULL,
    locale      text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, phone_e164)
);

CREATE TABLE appointments (
    id                uuid PRIMARY KEY,
    tenant_id         uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    customer_id       uuid        NOT NULL REFERENCES customers (id),
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL,
    time_zone         text        NOT NULL,
    location          text,
    status            text        NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'confirmed', 'reschedule_requested', 'cancelled')),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);

CREATE INDEX appointments_tenant_start_idx ON appointments (tenant_id, starts_at);

CREATE TABLE appointment_reminders (
    -- The reminder id every service keys on.
    id              uuid PRIMARY KEY,
    appointment_id  uuid        NOT NULL REFERENCES appointments (id) ON DELETE CASCADE,
    tenant_id       uuid        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('voice', 'sms')),
    due_at          timestamptz NOT NULL,
    state           text        NOT NULL DEFAULT 'scheduled'
        CHECK (state IN ('scheduled', 'dispatched', 'completed', 'cancelled')),
    outcome         text,
    outcome_detail  text,
    outcome_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX appointment_reminders_appointment_idx ON appointment_reminders (appointment_id);
