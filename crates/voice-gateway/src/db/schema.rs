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
        appointment_start -> Timestamptz,
        location -> Text,
        status -> Text,
        tries -> Int4,
        next_attempt_at -> Timestamptz,
        call_uuid -> Nullable<Text>,
        carrier_status -> Nullable<Text>,
        hangup_cause -> Nullable<Text>,
        duration_seconds -> Nullable<Int4>,
        menu_replays -> Int4,
        invalid_inputs -> Int4,
        outcome -> Nullable<Text>,
        outcome_detail -> Nullable<Text>,
        outcome_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_nonces (nonce) {
        nonce -> Text,
        seen_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(call_attempts, webhook_nonces,);
