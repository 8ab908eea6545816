-- Each tenant's SMS settings, beside its voice settings. A tenant without a row, or a row
-- saved before SMS settings existed, has the defaults: sms-service's sender, no help contact,
-- 3 segments and the built-in texts.
ALTER TABLE tenant_settings
    -- E.164; NULL means sms-service's FROM_NUMBER.
    ADD COLUMN sms_from_number  text,
    -- What a HELP reply names as the contact; NULL for none.
    ADD COLUMN sms_help_contact text,
    -- The most segments one rendered message may take.
    ADD COLUMN sms_max_segments integer NOT NULL DEFAULT 3 CHECK (sms_max_segments BETWEEN 1 AND 10),
    -- [{"name": ..., "language": ..., "text": ...}], validated and linted by the API.
    ADD COLUMN sms_templates    jsonb   NOT NULL DEFAULT '[]';
