-- Issue 6: the text a reminder call speaks instead of the built-in "appointment" sentence
-- (ReminderDue.template), and the values of {first_name}, {last_name} and {metadata.key}.
-- Its own table, one row per call attempt that carries any of them: call_attempts is at
-- diesel's 32-column limit.
CREATE TABLE call_attempt_texts (
    attempt_id uuid PRIMARY KEY REFERENCES call_attempts (id) ON DELETE CASCADE,
    -- Empty: the tenant's or built-in "appointment" wording.
    template   text  NOT NULL DEFAULT '',
    first_name text  NOT NULL DEFAULT '',
    last_name  text  NOT NULL DEFAULT '',
    -- {"key": "value"}
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb
);
