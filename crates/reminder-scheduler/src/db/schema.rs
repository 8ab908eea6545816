//! Diesel table definitions of the scheduler's own tables, unqualified so the same code runs in
//! any schema. The runtime's `outbox` and `inbox` live in `attend_runtime::schema`.

diesel::table! {
    appointments (appointment_id) {
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        start -> Nullable<Timestamptz>,
        status -> Text,
        reschedule_count -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reminder_jobs (reminder_id) {
        reminder_id -> Uuid,
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        channel -> Text,
        due_at -> Timestamptz,
        status -> Text,
        attempt -> Int4,
        recipient_name -> Text,
        recipient_phone -> Text,
        recipient_locale -> Text,
        recipient_time_zone -> Text,
        business_name -> Text,
        appointment_start -> Timestamptz,
        location -> Text,
        traceparent -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        outcome -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        dispatched_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        participant -> Text,
        business_time_zone -> Text,
        kind -> Text,
        template -> Text,
        fallback_channel -> Nullable<Text>,
        fallback_template -> Text,
        fell_back_from -> Nullable<Text>,
        metadata -> Jsonb,
        recipient_first_name -> Text,
        recipient_last_name -> Text,
    }
}

diesel::table! {
    tenant_policies (tenant_id) {
        tenant_id -> Uuid,
        version -> Int8,
        window_start_minute -> Int4,
        window_end_minute -> Int4,
        voice_max_retries -> Int4,
        voice_retry_interval_seconds -> Int4,
        voice_retry_on -> Array<Text>,
        changed_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(reminder_jobs -> appointments (appointment_id));
diesel::allow_tables_to_appear_in_same_query!(appointments, reminder_jobs, tenant_policies);
