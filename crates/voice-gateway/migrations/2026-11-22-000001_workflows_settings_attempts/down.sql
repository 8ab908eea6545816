DROP INDEX call_attempts_appointment_idx;
DELETE FROM call_attempts WHERE attempt > 1 OR status = 'dropped' OR appointment_start IS NULL
    OR outcome IN ('opted_out', 'machine', 'expired');
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_status_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_status_check CHECK (status IN (
    'queued', 'placing', 'unknown', 'placed', 'in_progress', 'completed', 'failed'));
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_outcome_check;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_outcome_check CHECK (outcome IN (
    'confirmed', 'reschedule_requested', 'cancelled', 'no_answer', 'busy', 'failed'));
ALTER TABLE call_attempts ADD COLUMN menu_replays integer NOT NULL DEFAULT 0;
ALTER TABLE call_attempts ADD COLUMN invalid_inputs integer NOT NULL DEFAULT 0;
ALTER TABLE call_attempts DROP COLUMN gathers_played;
ALTER TABLE call_attempts DROP COLUMN node_retries;
ALTER TABLE call_attempts DROP COLUMN flow_step;
ALTER TABLE call_attempts DROP COLUMN current_node;
ALTER TABLE call_attempts DROP COLUMN workflow_id;
ALTER TABLE call_attempts DROP COLUMN spoken_when;
ALTER TABLE call_attempts ALTER COLUMN appointment_start SET NOT NULL;
ALTER TABLE call_attempts DROP CONSTRAINT call_attempts_reminder_attempt_key;
ALTER TABLE call_attempts DROP COLUMN attempt;
ALTER TABLE call_attempts ADD CONSTRAINT call_attempts_reminder_id_key UNIQUE (reminder_id);
DROP TABLE opt_outs;
DROP TABLE tenant_settings;
DROP TABLE workflows;
