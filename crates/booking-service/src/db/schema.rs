// @generated shape: matches `diesel print-schema` of the booking schema (unqualified tables,
// so the same code runs in any schema). Regenerate after changing migrations.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        key_prefix -> Text,
        key_hash -> Bytea,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    appointment_reminders (id) {
        id -> Uuid,
        appointment_id -> Uuid,
        tenant_id -> Uuid,
        channel -> Text,
        due_at -> Timestamptz,
        state -> Text,
        outcome -> Nullable<Text>,
        outcome_detail -> Nullable<Text>,
        outcome_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        outcome_attempt -> Nullable<Int4>,
        kind -> Text,
        template -> Nullable<Text>,
        fallback_channel -> Nullable<Text>,
        fallback_template -> Nullable<Text>,
    }
}

diesel::table! {
    appointment_type_policies (appointment_type_id) {
        appointment_type_id -> Uuid,
        tenant_id -> Uuid,
        policy -> Jsonb,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    subscriber_opt_outs (tenant_id, phone_e164, channel) {
        tenant_id -> Uuid,
        phone_e164 -> Text,
        channel -> Text,
        source -> Text,
        opted_out_at -> Timestamptz,
    }
}

diesel::table! {
    event_reminders (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        appointment_id -> Uuid,
        external_event_id -> Nullable<Text>,
        phone_e164 -> Text,
        phone -> Text,
        first_name -> Nullable<Text>,
        last_name -> Nullable<Text>,
        email_address -> Nullable<Text>,
        event_type_id -> Uuid,
        remind_time_offset -> Text,
        remind_offset_sent -> Bool,
        follow_up_time_offset -> Nullable<Text>,
        event_date_time -> Text,
        subscriber_time_zone -> Text,
        send_eligible_only -> Bool,
        metadata -> Jsonb,
        status -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    appointments (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        customer_id -> Uuid,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        time_zone -> Text,
        location -> Nullable<Text>,
        status -> Text,
        status_changed_at -> Timestamptz,
        created_at -> Timestamptz,
        entity_id -> Nullable<Uuid>,
        appointment_type_id -> Nullable<Uuid>,
        product_id -> Nullable<Uuid>,
        agent_id -> Nullable<Uuid>,
        booker_id -> Nullable<Uuid>,
        source -> Text,
        updated_at -> Timestamptz,
        participant -> Nullable<Text>,
        metadata -> Jsonb,
        no_show_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        phone_e164 -> Nullable<Text>,
        locale -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        first_name -> Text,
        last_name -> Text,
        first_name_folded -> Text,
        last_name_folded -> Text,
        date_of_birth -> Nullable<Date>,
        email -> Nullable<Text>,
        street -> Nullable<Text>,
        zip -> Nullable<Text>,
        city -> Nullable<Text>,
        country -> Nullable<Text>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        name -> Text,
        default_region -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    agent_appointment_types (appointment_type_id, agent_id) {
        appointment_type_id -> Uuid,
        agent_id -> Uuid,
    }
}

diesel::table! {
    agents (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        entity_id -> Uuid,
        gender -> Text,
        first_name -> Text,
        last_name -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    appointment_types (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        entity_id -> Uuid,
        name -> Text,
        description -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    entities (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        time_zone -> Text,
        locale -> Text,
        currency -> Text,
        slot_interval_minutes -> Nullable<Int4>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    entity_reminder_defaults (entity_id, position) {
        entity_id -> Uuid,
        position -> Int2,
        channel -> Text,
        offset_seconds -> Int4,
    }
}

diesel::table! {
    entity_sip_ids (tenant_id, sip_id) {
        tenant_id -> Uuid,
        sip_id -> Text,
        entity_id -> Uuid,
    }
}

diesel::table! {
    idempotency_keys (tenant_id, idempotency_key) {
        tenant_id -> Uuid,
        idempotency_key -> Text,
        request_hash -> Bytea,
        response_status -> Nullable<Int2>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    products (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        appointment_type_id -> Uuid,
        name -> Text,
        duration_minutes -> Int4,
        description -> Text,
        price_cents -> Int8,
        booker_info -> Array<Text>,
        participant_info -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    schedule_exceptions (id) {
        id -> Uuid,
        agent_id -> Uuid,
        on_date -> Date,
        kind -> Text,
        start_minute -> Nullable<Int2>,
        end_minute -> Nullable<Int2>,
        note -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    working_hours (agent_id, weekday, start_minute) {
        agent_id -> Uuid,
        weekday -> Int2,
        start_minute -> Int2,
        end_minute -> Int2,
    }
}

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(appointment_reminders -> appointments (appointment_id));
diesel::joinable!(appointments -> agents (agent_id));
diesel::joinable!(appointments -> appointment_types (appointment_type_id));
diesel::joinable!(appointments -> customers (customer_id));
diesel::joinable!(appointments -> entities (entity_id));
diesel::joinable!(appointments -> products (product_id));
diesel::table! {
    reminder_calls (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        phone_e164 -> Text,
        name -> Text,
        date_text -> Text,
        time_text -> Text,
        status -> Text,
        reminder_id -> Uuid,
        call_uuid -> Nullable<Text>,
        created_at -> Timestamptz,
        called_at -> Nullable<Timestamptz>,
        outcome_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(appointments -> tenants (tenant_id));
diesel::joinable!(customers -> tenants (tenant_id));
diesel::joinable!(reminder_calls -> tenants (tenant_id));

diesel::joinable!(agent_appointment_types -> agents (agent_id));
diesel::joinable!(agent_appointment_types -> appointment_types (appointment_type_id));
diesel::joinable!(agents -> entities (entity_id));
diesel::joinable!(appointment_types -> entities (entity_id));
diesel::joinable!(entity_reminder_defaults -> entities (entity_id));
diesel::joinable!(entity_sip_ids -> entities (entity_id));
diesel::joinable!(products -> appointment_types (appointment_type_id));
diesel::joinable!(schedule_exceptions -> agents (agent_id));
diesel::joinable!(working_hours -> agents (agent_id));

diesel::table! {
    tenant_settings (tenant_id) {
        tenant_id -> Uuid,
        version -> Int8,
        calling_window_start_minute -> Int4,
        calling_window_end_minute -> Int4,
        voice_max_retries -> Int4,
        voice_retry_interval_minutes -> Int4,
        voice_retry_on -> Array<Text>,
        callback_number -> Nullable<Text>,
        voice_templates -> Jsonb,
        updated_at -> Timestamptz,
        sms_from_number -> Nullable<Text>,
        sms_help_contact -> Nullable<Text>,
        sms_max_segments -> Int4,
        sms_templates -> Jsonb,
    }
}

diesel::joinable!(tenant_settings -> tenants (tenant_id));

diesel::table! {
    sms_reminders (reminder_id) {
        reminder_id -> Uuid,
        tenant_id -> Uuid,
        appointment_id -> Uuid,
        utc_offset_seconds -> Int4,
        location -> Nullable<Text>,
        participant -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(sms_reminders -> appointments (appointment_id));
diesel::joinable!(sms_reminders -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    agent_appointment_types,
    agents,
    api_keys,
    appointment_reminders,
    appointment_type_policies,
    appointment_types,
    appointments,
    customers,
    entities,
    entity_reminder_defaults,
    entity_sip_ids,
    event_reminders,
    idempotency_keys,
    products,
    reminder_calls,
    schedule_exceptions,
    sms_reminders,
    subscriber_opt_outs,
    tenant_settings,
    tenants,
    working_hours,
);
