-- Issue 6, reminder policies: what a job is for (a reminder before the start, a follow-up
-- after it, the message sent when a no-show is recorded), the tenant's text for it, the
-- channel to fall back to when a voice reminder reaches nobody, and the values its
-- placeholders need ({first_name}, {last_name}, {metadata.key}), denormalized like the rest.
ALTER TABLE reminder_jobs
    ADD COLUMN kind                 text  NOT NULL DEFAULT 'reminder'
        CONSTRAINT reminder_jobs_kind_check CHECK (kind IN ('reminder', 'follow_up', 'no_show')),
    -- Empty: the channel's built-in wording for `kind`. After a fallback: the fallback's text.
    ADD COLUMN template             text  NOT NULL DEFAULT '',
    -- Set while a fallback is still available; cleared when the job falls back (once).
    ADD COLUMN fallback_channel     text
        CONSTRAINT reminder_jobs_fallback_channel_check CHECK (fallback_channel IN ('voice', 'sms')),
    ADD COLUMN fallback_template    text  NOT NULL DEFAULT '',
    -- The channel the job started on when it fell back; NULL while it never did.
    ADD COLUMN fell_back_from       text
        CONSTRAINT reminder_jobs_fell_back_from_check CHECK (fell_back_from IN ('voice', 'sms')),
    -- {"key": "value"} from AppointmentDetails.metadata.
    ADD COLUMN metadata             jsonb NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN recipient_first_name text  NOT NULL DEFAULT '',
    ADD COLUMN recipient_last_name  text  NOT NULL DEFAULT '';

ALTER TABLE reminder_jobs DROP CONSTRAINT reminder_jobs_cancel_reason_check;
ALTER TABLE reminder_jobs ADD CONSTRAINT reminder_jobs_cancel_reason_check
    CHECK (cancel_reason IN ('superseded', 'appointment_cancelled', 'no_show'));

-- 'no_show' is final like 'cancelled': no later event adds a reminder or a follow-up; only the
-- no-show message itself is pending for it.
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('active', 'cancelled', 'no_show'));
