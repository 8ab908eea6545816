-- An opt-out may now come from another channel (a STOP reply to a text, via
-- subscriber.opted_out), which names no call: the reminder is optional and the source says
-- where it was heard.
ALTER TABLE opt_outs ALTER COLUMN reminder_id DROP NOT NULL;
ALTER TABLE opt_outs ADD COLUMN source text NOT NULL DEFAULT 'voice_keypress';
