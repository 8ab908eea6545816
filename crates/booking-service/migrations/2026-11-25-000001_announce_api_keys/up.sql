-- Issue 7: voice-gateway authenticates the tenant's Bearer keys from `tenant.api_key_issued`
-- events instead of reading this schema. Keys created from now on are announced by the
-- transaction that creates them; this announces every live key created before, once, through
-- the outbox (the relay retries while no consumer has bound its queue yet).
--
-- The payload is attend.events.v1.TenantApiKeyIssued in protobuf wire format, written by hand
-- because SQL has no protobuf encoder. Every field is length-delimited (wire type 2) and
-- shorter than 128 bytes, so each is: tag byte, one length byte, the bytes.
--   1 tenant_id  (tag 0x0a): the uuid as text, 36 bytes
--   2 key_id     (tag 0x12): the uuid as text, 36 bytes
--   3 key_sha256 (tag 0x1a): the 32-byte hash
--   4 key_prefix (tag 0x22): the display prefix ("attk_" + 8 hex)
--   5 issued_at is left out (it is optional).
-- booking-service's db::tenants tests decode these bytes with the generated type.
-- The event id is a UUIDv7 built from the clock, as the relay and consumers expect.
INSERT INTO outbox (id, event_type, routing_key, tenant_id, payload)
SELECT
    encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid,
    'attend.tenant.api_key_issued.v1',
    'tenant.api_key_issued',
    k.tenant_id,
    '\x0a'::bytea || set_byte('\x00'::bytea, 0, octet_length(k.tenant_id::text)) || convert_to(k.tenant_id::text, 'UTF8')
        || '\x12'::bytea || set_byte('\x00'::bytea, 0, octet_length(k.id::text)) || convert_to(k.id::text, 'UTF8')
        || '\x1a'::bytea || set_byte('\x00'::bytea, 0, length(k.key_hash)) || k.key_hash
        || '\x22'::bytea || set_byte('\x00'::bytea, 0, octet_length(k.key_prefix)) || convert_to(k.key_prefix, 'UTF8')
FROM api_keys k
WHERE k.revoked_at IS NULL
  AND length(k.key_hash) < 128
  AND octet_length(k.key_prefix) < 128;
