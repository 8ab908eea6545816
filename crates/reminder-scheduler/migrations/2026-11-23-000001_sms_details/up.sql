-- SMS reminders: what a message names besides the business (who the appointment is with, and
-- the business's own zone, so a message names the recipient's zone only when it differs), and
-- the SMS channel's own outcomes: `sent` (handed to the carrier; the job's work is done, an
-- answer may follow and is booking-service's business) and `suppressed` (opted out earlier).
ALTER TABLE reminder_jobs
    ADD COLUMN participant        text NOT NULL DEFAULT '',
    ADD COLUMN business_time_zone text NOT NULL DEFAULT '';

ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_outcome_check;
ALTER TABLE reminder_jobs ADD CONSTRAINT reminder_jobs_outcome_check CHECK (outcome IN (
    'confirmed', 'reschedule_requested', 'cancelled', 'no_answer', 'busy', 'failed', 'opted_out',
    'machine', 'sent', 'suppressed'));
