-- An answered or cancelled reminder cancels its queued texts (outbound::cancel_queued_of:
-- `reminder_row_id = $1 AND status = 'queued'`). Before the table's statistics catch up with
-- a burst of reminders, Postgres planned that as a BitmapAnd of outbound_messages_queued_idx,
-- which holds every queued text, and the reminder index: 0.57 ms a reply at 10,000 texts
-- (docs/benchmarks.md, item 6). This index answers both conditions at once.
CREATE INDEX outbound_messages_queued_reminder_idx ON outbound_messages (reminder_row_id)
    WHERE status = 'queued';
