//! The native catalog API: business entities, appointment types, products, agents with
//! their hours, and customers.
//!
//! Every route is scoped by the tenant of the API key: another tenant's ids and soft-deleted
//! rows are 404. Lists are pages in creation order (ids are UUIDv7) with an opaque cursor.

pub mod agents;
pub mod appointment_types;
pub mod customers;
pub mod entities;
pub mod pagination;
pub mod products;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::{Next, from_fn};
use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::startup::AppState;

use attend_runtime::Problem;

/// Registers the catalog routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/v1/entities")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(entities::list_entities))
                .route(web::post().to(entities::create_entity)),
        )
        .service(
            web::resource("/v1/entities/{id}")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(entities::get_entity))
                .route(web::put().to(entities::replace_entity))
                .route(web::delete().to(entities::delete_entity)),
        )
        .service(
            web::resource("/v1/appointment-types")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(appointment_types::list_appointment_types))
                .route(web::post().to(appointment_types::create_appointment_type)),
        )
        .service(
            web::resource("/v1/appointment-types/{id}")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(appointment_types::get_appointment_type))
                .route(web::put().to(appointment_types::replace_appointment_type))
                .route(web::delete().to(appointment_types::delete_appointment_type)),
        )
        .service(
            // Slot bookings take their plan from the cached schedule, so a new policy must
            // reach it like any catalog edit.
            web::resource("/v1/appointment-types/{id}/reminder-policy")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(super::reminder_policies::get_policy))
                .route(web::put().to(super::reminder_policies::replace_policy))
                .route(web::delete().to(super::reminder_policies::delete_policy)),
        )
        .service(
            web::resource("/v1/products")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(products::list_products))
                .route(web::post().to(products::create_product)),
        )
        .service(
            web::resource("/v1/products/{id}")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(products::get_product))
                .route(web::put().to(products::replace_product))
                .route(web::delete().to(products::delete_product)),
        )
        .service(
            web::resource("/v1/agents")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(agents::list_agents))
                .route(web::post().to(agents::create_agent)),
        )
        .service(
            web::resource("/v1/agents/{id}")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(agents::get_agent))
                .route(web::put().to(agents::replace_agent))
                .route(web::delete().to(agents::delete_agent)),
        )
        .service(
            web::resource("/v1/agents/{id}/exceptions")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(agents::list_exceptions))
                .route(web::post().to(agents::create_exception)),
        )
        .service(
            web::resource("/v1/agents/{id}/exceptions/{exception_id}")
                .wrap(from_fn(forget_cached_calendars))
                .route(web::get().to(agents::get_exception))
                .route(web::delete().to(agents::delete_exception)),
        )
        .service(
            web::resource("/v1/customers")
                .route(web::get().to(customers::list_customers))
                .route(web::post().to(customers::create_customer)),
        )
        .service(
            web::resource("/v1/customers/{id}")
                .route(web::get().to(customers::get_customer))
                .route(web::put().to(customers::replace_customer))
                .route(web::delete().to(customers::delete_customer)),
        );
}

/// Invalidates the cached schedules after a successful edit of what they are made of
/// (entities, types, products, agents, hours, exceptions), so that this process's next slot
/// search and booking read the new catalog.
async fn forget_cached_calendars(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let edits = !matches!(*request.method(), Method::GET | Method::HEAD);
    let state = request.app_data::<web::Data<AppState>>().cloned();
    let response = next.call(request).await?;
    if edits
        && response.status().is_success()
        && let Some(state) = state
    {
        state.calendars.catalog_changed();
    }
    Ok(response)
}

/// Returns the 201 answer to a create: the resource, located at `location`.
fn created(location: String, body: &impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((actix_web::http::header::LOCATION, location))
        .json(body)
}

/// Returns the 409 answer to deleting `what` while a booking still needs it.
fn in_use(what: &str) -> Problem {
    Problem::conflict(
        "in_use",
        format!(
            "the {what} has future appointments that are not cancelled; cancel or move them first"
        ),
    )
}
