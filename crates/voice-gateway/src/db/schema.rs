// Mirrors the migrations as `diesel print-schema` writes them (see diesel.toml);
// regenerate it after every migration.

diesel::table! {
    call_attempts (id) {
        id -> Uuid,
        reminder_id -> Uuid,
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        to_number -> Text,
        recipient_name -> Text,
        locale -> Text,
        time_zone -> Text,
        business_name -> Text,
        appointment_start -> Nullable<Timestamptz>,
        location -> Text,
        status -> Text,
        tries -> Int4,
        next_attempt_at -> Timestamptz,
        call_uuid -> Nullable<Text>,
        carrier_status -> Nullable<Text>,
        hangup_cause -> Nullable<Text>,
        duration_seconds -> Nullable<Int4>,
        outcome -> Nullable<Text>,
        outcome_detail -> Nullable<Text>,
        outcome_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        attempt -> Int4,
        spoken_when -> Text,
        workflow_id -> Nullable<Uuid>,
        current_node -> Nullable<Text>,
        flow_step -> Int4,
        node_retries -> Int4,
        gathers_played -> Int4,
    }
}

diesel::table! {
    call_attempt_texts (attempt_id) {
        attempt_id -> Uuid,
        template -> Text,
        first_name -> Text,
        last_name -> Text,
        metadata -> Jsonb,
    }
}

diesel::table! {
    opt_outs (tenant_id, phone) {
        tenant_id -> Uuid,
        phone -> Text,
        reminder_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        source -> Text,
    }
}

diesel::table! {
    tenant_settings (tenant_id) {
        tenant_id -> Uuid,
        version -> Int8,
        window_start_minute -> Int4,
        window_end_minute -> Int4,
        callback_number -> Text,
        templates -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_nonces (nonce) {
        nonce -> Text,
        seen_at -> Timestamptz,
    }
}

diesel::table! {
    workflows (id) {
        id -> Uuid,
        tenant_id -> Nullable<Uuid>,
        name -> Text,
        version -> Int4,
        definition -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(call_attempts -> workflows (workflow_id));
diesel::joinable!(call_attempt_texts -> call_attempts (attempt_id));

diesel::allow_tables_to_appear_in_same_query!(
    call_attempt_texts,
    call_attempts,
    opt_outs,
    tenant_settings,
    webhook_nonces,
    workflows,
);
