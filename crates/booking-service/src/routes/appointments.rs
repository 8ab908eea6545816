//! The native appointments API: book with reminders, read status, cancel.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::outbox;
use attend_runtime::{ApiJson, Problem};

use crate::auth::Tenant;
use crate::db::appointments::{
    self as queries, AppointmentRecord, CatalogLinks, NewAppointmentRow, ReminderRow,
};
use crate::domain::appointment::CreateAppointmentRequest;
use crate::error::ApiError;
use crate::events;
use crate::startup::AppState;

/// An appointment as the API shows it.
#[derive(Debug, Serialize)]
pub struct AppointmentResponse {
    /// Appointment id.
    pub id: Uuid,
    /// scheduled | confirmed | reschedule_requested | cancelled.
    pub status: String,
    /// When the status last changed.
    pub status_changed_at: DateTime<Utc>,
    /// The customer.
    pub customer: CustomerResponse,
    /// Start, UTC.
    pub start: DateTime<Utc>,
    /// End, UTC.
    pub end: DateTime<Utc>,
    /// Start in the customer's zone, RFC 3339 with its offset.
    pub start_local: String,
    /// The customer's IANA zone.
    pub time_zone: String,
    /// Location, if any.
    pub location: Option<String>,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
    /// Its reminders, earliest first.
    pub reminders: Vec<ReminderResponse>,
}

/// The customer of an appointment.
#[derive(Debug, Serialize)]
pub struct CustomerResponse {
    /// Customer id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Phone, E.164, when known.
    pub phone: Option<String>,
    /// Locale.
    pub locale: String,
}

/// One reminder and how far it got.
#[derive(Debug, Serialize)]
pub struct ReminderResponse {
    /// Reminder id.
    pub id: Uuid,
    /// voice | sms.
    pub channel: String,
    /// When it is (or was) due.
    pub due_at: DateTime<Utc>,
    /// scheduled | dispatched | completed | cancelled.
    pub state: String,
    /// confirmed, no_answer, ... once completed.
    pub outcome: Option<String>,
    /// Detail of the outcome.
    pub outcome_detail: Option<String>,
    /// When it completed.
    pub outcome_at: Option<DateTime<Utc>>,
}

fn to_response(appointment: AppointmentRecord, reminders: Vec<ReminderRow>) -> AppointmentResponse {
    let start_local = appointment
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map(|zone| appointment.starts_at.with_timezone(&zone).to_rfc3339())
        .unwrap_or_else(|_| appointment.starts_at.to_rfc3339());
    AppointmentResponse {
        id: appointment.id,
        status: appointment.status,
        status_changed_at: appointment.status_changed_at,
        customer: CustomerResponse {
            id: appointment.customer_id,
            name: appointment.customer_name,
            phone: appointment.customer_phone,
            locale: appointment.customer_locale,
        },
        start: appointment.starts_at,
        end: appointment.ends_at,
        start_local,
        time_zone: appointment.time_zone,
        location: appointment.location,
        created_at: appointment.created_at,
        reminders: reminders
            .into_iter()
            .map(|reminder| ReminderResponse {
                id: reminder.id,
                channel: reminder.channel,
                due_at: reminder.due_at,
                state: reminder.state,
                outcome: reminder.outcome,
                outcome_detail: reminder.outcome_detail,
                outcome_at: reminder.outcome_at,
            })
            .collect(),
    }
}

async fn load_response(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<AppointmentResponse, ApiError> {
    let appointment = queries::find_appointment(connection, tenant_id, id)
        .await?
        .ok_or_else(|| Problem::not_found("appointment"))?;
    let reminders = queries::reminders_of(connection, id).await?;
    Ok(to_response(appointment, reminders))
}

/// `POST /v1/appointments`: books an appointment and plans its reminders; the
/// `appointment.scheduled` event is written in the same transaction.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id))]
pub async fn create_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<CreateAppointmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let appointment = request.validate(&tenant.default_region, Utc::now())?;
    let appointment_id = Uuid::now_v7();
    tracing::Span::current().record("appointment_id", tracing::field::display(appointment_id));
    let reminders: Vec<(Uuid, &str, DateTime<Utc>)> = appointment
        .reminders
        .iter()
        .map(|reminder| (Uuid::now_v7(), reminder.channel.as_str(), reminder.due_at))
        .collect();

    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            let customer_id = queries::find_or_create_customer(
                connection,
                tenant.id,
                &appointment.customer_name,
                &appointment.customer_phone,
                &appointment.customer_locale,
            )
            .await?;
            let row = NewAppointmentRow {
                id: appointment_id,
                tenant_id: tenant.id,
                customer_id,
                starts_at: appointment.start,
                ends_at: appointment.end,
                time_zone: appointment.time_zone.name(),
                location: appointment.location.as_deref(),
                catalog: CatalogLinks::default(),
                source: "api",
            };
            queries::insert_appointment(connection, &row, &reminders).await?;
            let stored = queries::find_appointment(connection, tenant.id, appointment_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the appointment just inserted is missing"))?;
            let stored_reminders = queries::reminders_of(connection, appointment_id).await?;
            let event = events::appointment_scheduled(&stored, &tenant.name, &stored_reminders);
            outbox::enqueue(connection, Some(tenant.id), &event).await?;
            Ok(to_response(stored, stored_reminders))
        })
        .await?;
    tracing::info!(reminders = response.reminders.len(), "appointment booked");
    Ok(HttpResponse::Created()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/appointments/{appointment_id}"),
        ))
        .json(response))
}

/// `GET /v1/appointments/{id}`: the appointment's status and each reminder's state.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn get_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let response = load_response(&mut connection, tenant.id, path.into_inner()).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /v1/appointments/{id}/cancel`: cancels it and drops its pending reminders.
/// Cancelling a cancelled appointment answers it unchanged.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn cancel_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let appointment_id = path.into_inner();
    let mut connection = state.pool.get().await?;
    let response = connection
        .transaction::<_, ApiError, _>(async |connection| {
            queries::find_appointment(connection, tenant.id, appointment_id)
                .await?
                .ok_or_else(|| Problem::not_found("appointment"))?;
            let changed = queries::transition_status(
                connection,
                appointment_id,
                &["scheduled", "confirmed", "reschedule_requested"],
                "cancelled",
            )
            .await?;
            if changed {
                queries::cancel_pending_reminders(connection, appointment_id).await?;
                let event =
                    events::appointment_cancelled(appointment_id, tenant.id, "api", Utc::now());
                outbox::enqueue(connection, Some(tenant.id), &event).await?;
            }
            load_response(connection, tenant.id, appointment_id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(response))
}
