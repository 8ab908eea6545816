ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
UPDATE appointments SET status = 'cancelled' WHERE status = 'no_show';
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('active', 'cancelled'));

ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_cancel_reason_check;
UPDATE reminder_jobs SET cancel_reason = 'appointment_cancelled' WHERE cancel_reason = 'no_show';
ALTER TABLE reminder_jobs ADD CONSTRAINT reminder_jobs_cancel_reason_check
    CHECK (cancel_reason IN ('superseded', 'appointment_cancelled'));

ALTER TABLE reminder_jobs
    DROP COLUMN kind,
    DROP COLUMN template,
    DROP COLUMN fallback_channel,
    DROP COLUMN fallback_template,
    DROP COLUMN fell_back_from,
    DROP COLUMN metadata,
    DROP COLUMN recipient_first_name,
    DROP COLUMN recipient_last_name;
