DELETE FROM opt_outs WHERE reminder_id IS NULL;
ALTER TABLE opt_outs DROP COLUMN source;
ALTER TABLE opt_outs ALTER COLUMN reminder_id SET NOT NULL;
