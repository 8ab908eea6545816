-- Each tenant's reminder settings (calling window, voice retry, callback number and voice
-- templates). A tenant without a row has the defaults. `version` grows by one per save and
-- travels in tenant.settings_changed, so consumers can drop an older event that arrives late.
CREATE TABLE tenant_settings (
    tenant_id                    uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version                      bigint      NOT NULL CHECK (version >= 1),
    -- Minutes after local midnight in each recipient's zone; the window is [start, end).
    calling_window_start_minute  integer     NOT NULL CHECK (calling_window_start_minute >= 0),
    calling_window_end_minute    integer     NOT NULL CHECK (calling_window_end_minute <= 1440),
    voice_max_retries            integer     NOT NULL CHECK (voice_max_retries BETWEEN 0 AND 5),
    voice_retry_interval_minutes integer     NOT NULL CHECK (voice_retry_interval_minutes BETWEEN 1 AND 1440),
    -- snake_case outcomes: busy, no_answer, machine, failed.
    voice_retry_on               text[]      NOT NULL,
    -- E.164; NULL means voice-gateway's CALLBACK_NUMBER.
    callback_number              text,
    -- [{"name": ..., "language": ..., "text": ...}], validated by the API.
    voice_templates              jsonb       NOT NULL DEFAULT '[]',
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_settings_window_not_empty
        CHECK (calling_window_start_minute < calling_window_end_minute)
);

-- The attempt whose outcome a reminder holds: a delivery outcome (busy, no answer, machine,
-- failed, expired) gives way to the outcome of a later attempt; an answer is final.
ALTER TABLE appointment_reminders ADD COLUMN outcome_attempt integer CHECK (outcome_attempt >= 1);
