ALTER TABLE appointment_reminders DROP COLUMN outcome_attempt;
DROP TABLE tenant_settings;
