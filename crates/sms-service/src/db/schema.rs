// Mirrors the migrations as `diesel print-schema` writes them (see diesel.toml);
// regenerate it after every migration.

diesel::table! {
    reminders (id) {
        id -> Uuid,
        reminder_id -> Uuid,
        attempt -> Int4,
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        to_number -> Text,
        from_number -> Text,
        recipient_name -> Text,
        locale -> Text,
        time_zone -> Text,
        business_name -> Text,
        business_time_zone -> Text,
        appointment_start -> Timestamptz,
        location -> Text,
        participant -> Text,
        status -> Text,
        answer -> Nullable<Text>,
        answered_at -> Nullable<Timestamptz>,
        unparsable_replies -> Int4,
        sent_at -> Nullable<Timestamptz>,
        traceparent -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        kind -> Text,
        template -> Text,
        first_name -> Text,
        last_name -> Text,
        metadata -> Jsonb,
    }
}

diesel::table! {
    outbound_messages (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        reminder_row_id -> Nullable<Uuid>,
        kind -> Text,
        from_number -> Text,
        to_number -> Text,
        body -> Text,
        status -> Text,
        tries -> Int4,
        next_try_at -> Timestamptz,
        provider_ref -> Nullable<Text>,
        segments -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    inbound_messages (id) {
        id -> Uuid,
        carrier -> Text,
        provider_ref -> Text,
        tenant_id -> Nullable<Uuid>,
        from_number -> Text,
        to_number -> Text,
        body -> Text,
        reply -> Text,
        handling -> Text,
        reminder_row_id -> Nullable<Uuid>,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    no_pending_notices (to_number, from_number, day) {
        to_number -> Text,
        from_number -> Text,
        day -> Date,
    }
}

diesel::table! {
    cancelled_appointments (appointment_id) {
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        cancelled_at -> Timestamptz,
    }
}

diesel::table! {
    tenant_settings (tenant_id) {
        tenant_id -> Uuid,
        version -> Int8,
        window_start_minute -> Int4,
        window_end_minute -> Int4,
        max_segments -> Int4,
        from_number -> Text,
        help_contact -> Text,
        templates -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    opt_outs (tenant_id, phone_e164) {
        tenant_id -> Uuid,
        phone_e164 -> Text,
        opted_out_at -> Timestamptz,
        source -> Text,
        keyword -> Text,
    }
}

diesel::joinable!(outbound_messages -> reminders (reminder_row_id));
diesel::joinable!(inbound_messages -> reminders (reminder_row_id));

diesel::allow_tables_to_appear_in_same_query!(
    reminders,
    outbound_messages,
    inbound_messages,
    no_pending_notices,
    cancelled_appointments,
    tenant_settings,
    opt_outs,
);
