ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_outcome_check;
ALTER TABLE reminder_jobs ADD CONSTRAINT reminder_jobs_outcome_check CHECK (outcome IN (
    'confirmed', 'reschedule_requested', 'cancelled', 'no_answer', 'busy', 'failed', 'opted_out',
    'machine'));
ALTER TABLE reminder_jobs DROP COLUMN participant, DROP COLUMN business_time_zone;
