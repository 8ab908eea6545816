-- A text in flight is reported by its outbound message; its reminder goes back to `queued`,
-- which the older sender moves to `sent` or `failed` as before.
UPDATE reminders SET status = 'queued' WHERE status = 'sending';
ALTER TABLE reminders
    DROP CONSTRAINT reminders_status_check,
    ADD CONSTRAINT reminders_status_check CHECK (status IN
        ('queued', 'sent', 'failed', 'suppressed', 'expired', 'cancelled'));
