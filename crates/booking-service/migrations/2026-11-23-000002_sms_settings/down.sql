ALTER TABLE tenant_settings
    DROP COLUMN sms_templates,
    DROP COLUMN sms_max_segments,
    DROP COLUMN sms_help_contact,
    DROP COLUMN sms_from_number;
