DROP TABLE event_reminders;
DROP TABLE subscriber_opt_outs;
ALTER TABLE appointment_reminders
    DROP COLUMN fallback_template,
    DROP COLUMN fallback_channel,
    DROP COLUMN template,
    DROP COLUMN kind;
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check CHECK (status IN (
    'scheduled', 'confirmed', 'reschedule_requested', 'cancelled'));
ALTER TABLE appointments DROP COLUMN no_show_at, DROP COLUMN metadata;
DROP TABLE appointment_type_policies;
