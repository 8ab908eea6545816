//! Rows and queries of the catalog: entities, appointment types, products, agents with their
//! hours, and customers. Every lookup is scoped by tenant and skips soft-deleted rows.

pub mod agents;
pub mod appointment_types;
pub mod customers;
pub mod entities;
pub mod products;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::appointments;

/// Which appointment column points at a catalog row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Referrer {
    /// `appointments.entity_id`.
    Entity,
    /// `appointments.appointment_type_id`.
    AppointmentType,
    /// `appointments.product_id`.
    Product,
    /// `appointments.agent_id`.
    Agent,
    /// `appointments.customer_id`, or `booker_id`: a booker is in use too.
    Customer,
}

/// Returns whether a future appointment that is not cancelled points at `id` through
/// `referrer`: such a row must not disappear from under its booking.
#[tracing::instrument(skip_all, fields(referrer = ?referrer, id = %id))]
pub async fn has_future_appointments(
    connection: &mut AsyncPgConnection,
    referrer: Referrer,
    id: Uuid,
) -> QueryResult<bool> {
    let active = appointments::table
        .filter(appointments::status.ne("cancelled"))
        .filter(appointments::starts_at.gt(diesel::dsl::now))
        .select(appointments::id)
        .into_boxed();
    let referring = match referrer {
        Referrer::Entity => active.filter(appointments::entity_id.eq(id)),
        Referrer::AppointmentType => active.filter(appointments::appointment_type_id.eq(id)),
        Referrer::Product => active.filter(appointments::product_id.eq(id)),
        Referrer::Agent => active.filter(appointments::agent_id.eq(id)),
        Referrer::Customer => active.filter(
            appointments::customer_id
                .eq(id)
                .or(appointments::booker_id.eq(id)),
        ),
    };
    diesel::select(diesel::dsl::exists(referring))
        .get_result(connection)
        .await
}
