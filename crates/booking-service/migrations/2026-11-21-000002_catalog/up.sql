-- The catalog a voicebot books from (business entities, their SIP ids, appointment types,
-- products, agents and their working hours), richer customers, appointments that hold an
-- agent's time with no double booking, and idempotency keys for retried requests.

-- btree_gist lets one GiST index compare agent ids for equality and time ranges for overlap.
-- It is a trusted extension, so the schema owner may create it.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE entities (
    id                    uuid PRIMARY KEY,
    tenant_id             uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                  text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- IANA zone of the premises: working hours are read in it.
    time_zone             text        NOT NULL,
    -- Language of customers who book by phone, for their reminders.
    locale                text        NOT NULL DEFAULT 'en',
    -- ISO 4217 currency of product prices.
    currency              text        NOT NULL DEFAULT 'EUR' CHECK (currency ~ '^[A-Z]{3}$'),
    -- Step between slot starts; each product's own duration when null.
    slot_interval_minutes integer CHECK (slot_interval_minutes BETWEEN 5 AND 1440),
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    deleted_at            timestamptz
);

CREATE INDEX entities_tenant_idx ON entities (tenant_id, id) WHERE deleted_at IS NULL;

-- The telephony endpoints (SIP ids, called numbers) that route a call to an entity.
CREATE TABLE entity_sip_ids (
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sip_id     text NOT NULL CHECK (length(sip_id) BETWEEN 1 AND 200),
    entity_id  uuid NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, sip_id)
);

CREATE INDEX entity_sip_ids_entity_idx ON entity_sip_ids (entity_id);

-- Reminders every appointment booked at the entity gets, relative to its start.
CREATE TABLE entity_reminder_defaults (
    entity_id       uuid    NOT NULL REFERENCES entities (id) ON DELETE CASCADE,
    position        smallint NOT NULL,
    channel         text    NOT NULL CHECK (channel IN ('voice', 'sms')),
    offset_seconds  integer NOT NULL CHECK (offset_seconds BETWEEN 0 AND 31622400),
    PRIMARY KEY (entity_id, position)
);

CREATE TABLE appointment_types (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    entity_id   uuid        NOT NULL REFERENCES entities (id),
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE INDEX appointment_types_entity_idx ON appointment_types (entity_id) WHERE deleted_at IS NULL;

CREATE TABLE products (
    id                  uuid PRIMARY KEY,
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    appointment_type_id uuid        NOT NULL REFERENCES appointment_types (id),
    name                text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    duration_minutes    integer     NOT NULL CHECK (duration_minutes BETWEEN 5 AND 1440),
    description         text        NOT NULL DEFAULT '',
    -- In minor units of the entity's currency (cents), so money is never a float.
    price_cents         bigint      NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    -- What the voicebot must ask the booker and the participant (getRequiredInfo).
    booker_info         text[]      NOT NULL,
    participant_info    text[]      NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);

CREATE INDEX products_type_idx ON products (appointment_type_id) WHERE deleted_at IS NULL;

CREATE TABLE agents (
    id          uuid PRIMARY KEY,
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    entity_id   uuid        NOT NULL REFERENCES entities (id),
    gender      text        NOT NULL CHECK (gender IN ('male', 'female', 'diverse', 'unspecified')),
    first_name  text        NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
    last_name   text        NOT NULL CHECK (length(last_name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);

CREATE INDEX agents_entity_idx ON agents (entity_id) WHERE deleted_at IS NULL;

CREATE TABLE agent_appointment_types (
    appointment_type_id uuid NOT NULL REFERENCES appointment_types (id) ON DELETE CASCADE,
    agent_id            uuid NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    PRIMARY KEY (appointment_type_id, agent_id)
);

CREATE INDEX agent_appointment_types_agent_idx ON agent_appointment_types (agent_id);

-- Weekly hours, in minutes since local midnight of the entity's zone (1440 = end of day).
CREATE TABLE working_hours (
    agent_id      uuid     NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    -- ISO weekday: 1 = Monday .. 7 = Sunday.
    weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute  smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute    smallint NOT NULL CHECK (end_minute BETWEEN 1 AND 1440),
    PRIMARY KEY (agent_id, weekday, start_minute),
    CHECK (end_minute > start_minute)
);

-- Dated changes to the weekly hours: `closed` removes time (the whole day when no span is
-- given), `open` adds an extra shift.
CREATE TABLE schedule_exceptions (
    id            uuid PRIMARY KEY,
    agent_id      uuid     NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    on_date       date     NOT NULL,
    kind          text     NOT NULL CHECK (kind IN ('closed', 'open')),
    start_minute  smallint CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute    smallint CHECK (end_minute BETWEEN 1 AND 1440),
    note          text     NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((start_minute IS NULL) = (end_minute IS NULL)),
    CHECK (kind = 'closed' OR start_minute IS NOT NULL),
    CHECK (end_minute > start_minute)
);

CREATE INDEX schedule_exceptions_agent_date_idx ON schedule_exceptions (agent_id, on_date);

-- Customers: a family may share a phone, so the phone no longer identifies one.
ALTER TABLE customers DROP CONSTRAINT customers_tenant_id_phone_e164_key;
ALTER TABLE customers ALTER COLUMN phone_e164 DROP NOT NULL;
ALTER TABLE customers
    ADD COLUMN first_name        text NOT NULL DEFAULT '',
    ADD COLUMN last_name         text NOT NULL DEFAULT '',
    -- Lowercase, accents stripped (by the service), so callers match however they spell.
    ADD COLUMN first_name_folded text NOT NULL DEFAULT '',
    ADD COLUMN last_name_folded  text NOT NULL DEFAULT '',
    ADD COLUMN date_of_birth     date,
    ADD COLUMN email             text,
    ADD COLUMN street            text,
    ADD COLUMN zip               text,
    ADD COLUMN city              text,
    ADD COLUMN country           text,
    ADD COLUMN deleted_at        timestamptz;

CREATE INDEX customers_phone_idx ON customers (tenant_id, phone_e164) WHERE deleted_at IS NULL;
CREATE INDEX customers_name_idx ON customers (tenant_id, last_name_folded, first_name_folded)
    WHERE deleted_at IS NULL;

ALTER TABLE appointments
    ADD COLUMN entity_id           uuid REFERENCES entities (id),
    ADD COLUMN appointment_type_id uuid REFERENCES appointment_types (id),
    ADD COLUMN product_id          uuid REFERENCES products (id),
    ADD COLUMN agent_id            uuid REFERENCES agents (id),
    -- Who booked, when not the participant (`customer_id`) themself.
    ADD COLUMN booker_id           uuid REFERENCES customers (id),
    ADD COLUMN source              text NOT NULL DEFAULT 'api'
        CHECK (source IN ('api', 'voicebot', 'dialect')),
    ADD COLUMN updated_at          timestamptz NOT NULL DEFAULT now(),
    -- An agent is never in two active appointments at once: Postgres refuses the second
    -- insert or move, whatever the application does.
    ADD CONSTRAINT appointments_no_double_booking EXCLUDE USING gist (
        agent_id WITH =,
        tstzrange(starts_at, ends_at, '[)') WITH &&
    ) WHERE (agent_id IS NOT NULL AND status <> 'cancelled');

-- Busy time of agents, for slots: bounded by start on both sides (nothing lasts over a day).
CREATE INDEX appointments_agent_start_idx ON appointments (agent_id, starts_at)
    WHERE agent_id IS NOT NULL AND status <> 'cancelled';
CREATE INDEX appointments_customer_idx ON appointments (customer_id, starts_at);
CREATE INDEX appointments_booker_idx ON appointments (booker_id, starts_at) WHERE booker_id IS NOT NULL;

-- A retried request carrying the same Idempotency-Key gets the first answer. The key row is
-- inserted first in the request's transaction, so a concurrent retry waits for the first
-- attempt and then reads its answer; a failed attempt rolls its key back.
CREATE TABLE idempotency_keys (
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    idempotency_key  text        NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of method, path and body: the key reused for another request is refused.
    request_hash     bytea       NOT NULL,
    response_status  smallint,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, idempotency_key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
