// Mirrors the migrations as `diesel print-schema` writes them (see diesel.toml);
// regenerate it after every migration.

diesel::table! {
    api_keys (key_id) {
        key_id -> Uuid,
        tenant_id -> Uuid,
        key_hash -> Nullable<Bytea>,
        key_prefix -> Text,
        issued_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    batch_calls (id) {
        id -> Uuid,
        batch_id -> Uuid,
        tenant_id -> Uuid,
        position -> Int4,
        phone_number -> Text,
        user_tags -> Jsonb,
        variables -> Jsonb,
        option_selected -> Nullable<Text>,
        result -> Nullable<Text>,
        result_detail -> Nullable<Text>,
        duration_seconds -> Nullable<Int4>,
        settled_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    call_attempts (id) {
        id -> Uuid,
        reminder_id -> Nullable<Uuid>,
        appointment_id -> Nullable<Uuid>,
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
    call_batches (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        workflow_id -> Uuid,
        idempotency_key -> Nullable<Text>,
        request_sha256 -> Bytea,
        tts_voice_accent -> Text,
        tts_voice_gender -> Text,
        speak_voice -> Text,
        speak_language -> Text,
        options -> Array<Text>,
        total_calls -> Int4,
        pending_calls -> Int4,
        status -> Text,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        callback_status -> Text,
        callback_body -> Nullable<Text>,
        callback_attempts -> Int4,
        callback_next_at -> Nullable<Timestamptz>,
        callback_give_up_at -> Nullable<Timestamptz>,
        callback_last_status -> Nullable<Int4>,
        callback_last_error -> Nullable<Text>,
        callback_delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    dial_pacer (id) {
        id -> Int2,
        theoretical_arrival -> Timestamptz,
    }
}

diesel::table! {
    integrator_settings (tenant_id) {
        tenant_id -> Uuid,
        callback_url -> Nullable<Text>,
        callback_secret -> Text,
        secret_created_at -> Timestamptz,
        updated_at -> Timestamptz,
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
        kind -> Text,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(batch_calls -> call_attempts (id));
diesel::joinable!(batch_calls -> call_batches (batch_id));
diesel::joinable!(call_attempts -> workflows (workflow_id));
diesel::joinable!(call_attempt_texts -> call_attempts (attempt_id));
diesel::joinable!(call_batches -> workflows (workflow_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    batch_calls,
    call_attempt_texts,
    call_attempts,
    call_batches,
    dial_pacer,
    integrator_settings,
    opt_outs,
    tenant_settings,
    webhook_nonces,
    workflows,
);
