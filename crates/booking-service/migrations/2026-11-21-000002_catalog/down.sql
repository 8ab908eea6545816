-- btree_gist stays: other schemas of the database may use it.
DROP TABLE idempotency_keys;
ALTER TABLE appointments
    DROP CONSTRAINT appointments_no_double_booking,
    DROP COLUMN entity_id,
    DROP COLUMN appointment_type_id,
    DROP COLUMN product_id,
    DROP COLUMN agent_id,
    DROP COLUMN booker_id,
    DROP COLUMN source,
    DROP COLUMN updated_at;
DROP INDEX appointments_customer_idx;
DROP INDEX customers_phone_idx;
DROP INDEX customers_name_idx;
ALTER TABLE customers
    DROP COLUMN first_name,
    DROP COLUMN last_name,
    DROP COLUMN first_name_folded,
    DROP COLUMN last_name_folded,
    DROP COLUMN date_of_birth,
    DROP COLUMN email,
    DROP COLUMN street,
    DROP COLUMN zip,
    DROP COLUMN city,
    DROP COLUMN country,
    DROP COLUMN deleted_at;
DELETE FROM customers WHERE phone_e164 IS NULL;
ALTER TABLE customers ALTER COLUMN phone_e164 SET NOT NULL;
ALTER TABLE customers ADD CONSTRAINT customers_tenant_id_phone_e164_key UNIQUE (tenant_id, phone_e164);
DROP TABLE schedule_exceptions;
DROP TABLE working_hours;
DROP TABLE agent_appointment_types;
DROP TABLE agents;
DROP TABLE products;
DROP TABLE appointment_types;
DROP TABLE entity_reminder_defaults;
DROP TABLE entity_sip_ids;
DROP TABLE entities;
