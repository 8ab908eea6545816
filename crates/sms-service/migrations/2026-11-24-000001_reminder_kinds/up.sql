-- Issue 6: what each reminder attempt is for and the text it carries. A `reminder` asks for an
-- answer and is the only kind a reply is applied to; a `follow_up` (after the visit) and a
-- `no_show` message are informational. `template` is the tenant's text the event carried
-- (empty: the tenant's saved template of the kind's name, else the built-in text);
-- `first_name`, `last_name` and `metadata` fill {first_name}, {last_name}, {metadata.key}.
ALTER TABLE reminders
    ADD COLUMN kind       text  NOT NULL DEFAULT 'reminder'
        CONSTRAINT reminders_kind_check CHECK (kind IN ('reminder', 'follow_up', 'no_show')),
    ADD COLUMN template   text  NOT NULL DEFAULT '',
    ADD COLUMN first_name text  NOT NULL DEFAULT '',
    ADD COLUMN last_name  text  NOT NULL DEFAULT '',
    ADD COLUMN metadata   jsonb NOT NULL DEFAULT '{}'::jsonb;

-- outbound_messages.kind (no CHECK) gains `follow_up` and `no_show`: the texts of those
-- reminders, held to the sending window like `reminder`.
