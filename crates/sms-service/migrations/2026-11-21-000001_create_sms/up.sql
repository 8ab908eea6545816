-- The opt-out list: the first table sms-service owns. Sending and replies come with issue #5.
CREATE TABLE opt_outs (
    tenant_id   uuid        NOT NULL,
    phone_e164  text        NOT NULL,
    opted_out_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, phone_e164)
);
