ALTER TABLE reminders
    DROP COLUMN kind,
    DROP COLUMN template,
    DROP COLUMN first_name,
    DROP COLUMN last_name,
    DROP COLUMN metadata;
