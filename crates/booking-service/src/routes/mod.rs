//! HTTP routes of booking-service.

pub mod admin;
pub mod appointments;
pub mod bookings;
pub mod catalog;
pub mod event_reminders;
pub mod reminder_calls;
pub mod reminder_policies;
pub mod reminder_sms;
pub mod settings;
pub mod voicebot;

use actix_web::web;

/// Registers every route of the native API and of the dialects.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/v1/admin/tenants", web::post().to(admin::create_tenant))
        .configure(catalog::configure)
        .route(
            "/v1/appointments",
            web::post().to(appointments::create_appointment),
        )
        .route(
            "/v1/appointments/{id}",
            web::get().to(appointments::get_appointment),
        )
        .route("/v1/slots", web::get().to(bookings::list_slots))
        .route("/v1/bookings", web::post().to(bookings::create_booking))
        .route(
            "/v1/appointments/{id}/move",
            web::post().to(bookings::move_appointment),
        )
        .route(
            "/v1/appointments/{id}/cancel",
            web::post().to(appointments::cancel_appointment),
        )
        .route(
            "/v1/appointments/{id}/no-show",
            web::post().to(appointments::record_no_show),
        )
        .service(
            web::resource("/v1/settings/reminders")
                .route(web::get().to(settings::get_reminder_settings))
                .route(web::put().to(settings::replace_reminder_settings)),
        )
        .route("/voicebot/webhook", web::post().to(voicebot::webhook))
        .configure(reminder_calls::configure)
        .configure(reminder_sms::configure)
        .configure(event_reminders::configure);
}
