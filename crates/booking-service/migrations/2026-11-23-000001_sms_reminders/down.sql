DROP TABLE sms_reminders;
ALTER TABLE appointments DROP COLUMN participant;
