-- Each tenant's reminder policy, copied from booking-service's `tenant.settings_changed`.
-- A tenant without a row gets the defaults (08:00-21:00; two voice retries 15 minutes apart
-- on busy and no answer). `version` only grows: a late, older event changes nothing.
CREATE TABLE tenant_policies (
    tenant_id                    uuid PRIMARY KEY,
    version                      bigint      NOT NULL CHECK (version >= 0),
    -- Minutes after local midnight in the recipient's zone; the window is [start, end).
    window_start_minute          integer     NOT NULL CHECK (window_start_minute >= 0),
    window_end_minute            integer     NOT NULL CHECK (window_end_minute <= 1440),
    voice_max_retries            integer     NOT NULL CHECK (voice_max_retries >= 0),
    voice_retry_interval_seconds integer     NOT NULL CHECK (voice_retry_interval_seconds > 0),
    -- snake_case outcome names (busy, no_answer, machine, failed) that earn another attempt.
    voice_retry_on               text[]      NOT NULL,
    changed_at                   timestamptz,
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_policies_window_not_empty CHECK (window_start_minute < window_end_minute)
);
