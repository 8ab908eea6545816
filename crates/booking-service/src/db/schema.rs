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
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        name -> Text,
        phone_e164 -> Text,
        locale -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
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

diesel::joinable!(api_keys -> tenants (tenant_id));
diesel::joinable!(appointment_reminders -> appointments (appointment_id));
diesel::joinable!(appointments -> customers (customer_id));
diesel::joinable!(appointments -> tenants (tenant_id));
diesel::joinable!(customers -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    api_keys,
    appointment_reminders,
    appointments,
    customers,
    tenants,
);
