ALTER TABLE opt_outs DROP COLUMN keyword, DROP COLUMN source;
DROP TABLE tenant_settings;
DROP TABLE cancelled_appointments;
DROP TABLE no_pending_notices;
DROP TABLE inbound_messages;
DROP TABLE outbound_messages;
DROP TABLE reminders;
