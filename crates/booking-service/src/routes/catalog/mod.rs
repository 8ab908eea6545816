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

use actix_web::{HttpResponse, web};
use serde::Serialize;

use attend_runtime::Problem;

/// Registers the catalog routes.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .service(
            web::resource("/v1/entities")
                .route(web::get().to(entities::list_entities))
                .route(web::post().to(entities::create_entity)),
        )
        .service(
            web::resource("/v1/entities/{id}")
                .route(web::get().to(entities::get_entity))
                .route(web::put().to(entities::replace_entity))
                .route(web::delete().to(entities::delete_entity)),
        )
        .service(
            web::resource("/v1/appointment-types")
                .route(web::get().to(appointment_types::list_appointment_types))
                .route(web::post().to(appointment_types::create_appointment_type)),
        )
        .service(
            web::resource("/v1/appointment-types/{id}")
                .route(web::get().to(appointment_types::get_appointment_type))
                .route(web::put().to(appointment_types::replace_appointment_type))
                .route(web::delete().to(appointment_types::delete_appointment_type)),
        )
        .service(
            web::resource("/v1/products")
                .route(web::get().to(products::list_products))
                .route(web::post().to(products::create_product)),
        )
        .service(
            web::resource("/v1/products/{id}")
                .route(web::get().to(products::get_product))
                .route(web::put().to(products::replace_product))
                .route(web::delete().to(products::delete_product)),
        )
        .service(
            web::resource("/v1/agents")
                .route(web::get().to(agents::list_agents))
                .route(web::post().to(agents::create_agent)),
        )
        .service(
            web::resource("/v1/agents/{id}")
                .route(web::get().to(agents::get_agent))
                .route(web::put().to(agents::replace_agent))
                .route(web::delete().to(agents::delete_agent)),
        )
        .service(
            web::resource("/v1/agents/{id}/exceptions")
                .route(web::get().to(agents::list_exceptions))
                .route(web::post().to(agents::create_exception)),
        )
        .service(
            web::resource("/v1/agents/{id}/exceptions/{exception_id}")
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
