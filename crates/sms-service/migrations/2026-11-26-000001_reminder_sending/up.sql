-- A reminder is `sending` from the commit that hands its text to the sender until the carrier
-- answers: queued -> sending -> sent | failed | suppressed, or back to queued for a retry. A
-- reply can arrive before the carrier's answer is committed (the recipient is fast, the commit
-- slow), so a `sending` reminder is already a conversation a reply is applied to.
ALTER TABLE reminders
    DROP CONSTRAINT reminders_status_check,
    ADD CONSTRAINT reminders_status_check CHECK (status IN
        ('queued', 'sending', 'sent', 'failed', 'suppressed', 'expired', 'cancelled'));
