//! Diesel table definitions of the runtime's own tables (present in every service schema).

diesel::table! {
    outbox (id) {
        id -> Uuid,
        event_type -> Text,
        routing_key -> Text,
        tenant_id -> Nullable<Uuid>,
        payload -> Bytea,
        traceparent -> Nullable<Text>,
        occurred_at -> Timestamptz,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    inbox (message_id) {
        message_id -> Uuid,
        event_type -> Text,
        received_at -> Timestamptz,
    }
}
