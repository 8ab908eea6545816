//! The native appointments API: book with reminders, read status, cancel.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::Problem;
use attend_runtime::http::{JsonBytes, parse_json};
use attend_runtime::outbox::RelayWake;

use super::bookings;
use crate::auth::Tenant;
use crate::booking::commands::{self, CancelBooking, ScheduleAppointment};
use crate::booking::idempotency::{self, RequestKey, StoredAnswer};
use crate::booking::plans::{self, PlanRequest};
use crate::db::appointments::{self as queries, AppointmentRecord, ReminderRow};
use crate::domain::appointment::CreateAppointmentRequest;
use crate::error::ApiError;
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
    /// Business entity, for slot bookings.
    pub entity_id: Option<Uuid>,
    /// Appointment type, for slot bookings.
    pub appointment_type_id: Option<Uuid>,
    /// Product, for slot bookings.
    pub product_id: Option<Uuid>,
    /// Agent whose time it holds, for slot bookings.
    pub agent_id: Option<Uuid>,
    /// Who booked, when not the customer themself.
    pub booker_id: Option<Uuid>,
    /// Values for `{metadata.key}` placeholders.
    pub metadata: serde_json::Value,
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
    /// reminder (before the start) | follow_up (after the end) | no_show.
    pub kind: String,
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
        entity_id: appointment.catalog.entity_id,
        appointment_type_id: appointment.catalog.appointment_type_id,
        product_id: appointment.catalog.product_id,
        agent_id: appointment.catalog.agent_id,
        booker_id: appointment.catalog.booker_id,
        metadata: appointment.metadata,
        reminders: reminders
            .into_iter()
            .map(|reminder| ReminderResponse {
                id: reminder.id,
                channel: reminder.channel,
                kind: reminder.kind,
                due_at: reminder.due_at,
                state: reminder.state,
                outcome: reminder.outcome,
                outcome_detail: reminder.outcome_detail,
                outcome_at: reminder.outcome_at,
            })
            .collect(),
    }
}

pub(crate) async fn load_response(
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
/// `appointment.scheduled` event is written in the same transaction. Honours
/// `Idempotency-Key`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id))]
pub async fn create_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    http_request: HttpRequest,
    JsonBytes(body): JsonBytes,
) -> Result<HttpResponse, ApiError> {
    let request_key = RequestKey::of(&http_request, &body)?;
    let request: CreateAppointmentRequest = parse_json(&body)?;
    let appointment = request.validate(&tenant.default_region, Utc::now())?;
    let appointment_id = Uuid::now_v7();
    tracing::Span::current().record("appointment_id", tracing::field::display(appointment_id));

    let (answer, replayed) =
        idempotency::run_once(&state.pool, &state.relay_waker, tenant.id, &request_key, async |transaction| {
            // The catalog reads need no transaction; BEGIN goes out with the customer's
            // statement in commands::schedule.
            let connection = transaction.connection_for_reads()?;
            let plan_request = PlanRequest {
                appointment_type_id: appointment.appointment_type_id,
                reminders: appointment.reminders.as_deref(),
                follow_up: appointment.follow_up,
                start: appointment.start,
                end: appointment.end,
                zone: appointment.time_zone,
                locale: &appointment.customer_locale,
            };
            let plan = plans::free_form_plan(connection, tenant.id, plan_request, Some(&state.calendars))
                .await?
                .ok_or_else(|| {
                    Problem::invalid_field("appointment_type_id", "no such appointment type")
                })?;
            if appointment.eligible_only {
                let refused = plans::ineligible_channels(
                    connection,
                    tenant.id,
                    &appointment.customer_phone,
                    &plan.messages,
                )
                .await?;
                if !refused.is_empty() {
                    return Err(Problem::invalid_field(
                        "customer.phone",
                        format!(
                            "the customer opted out of {} reminders, and eligible_only refuses to book them",
                            refused.join(" and ")
                        ),
                    )
                    .into());
                }
            }
            let command = ScheduleAppointment {
                appointment_id,
                appointment: &appointment,
                participant: None,
                source: "api",
                messages: &plan.messages,
                metadata: Some(&appointment.metadata),
                catalog: plan.catalog,
                entity: plan.entity.as_ref(),
                names: None,
                // run_once wakes the relay after the commit.
                relay_wake: RelayWake::InProcess,
            };
            let (stored, stored_reminders) =
                commands::schedule(transaction, tenant.id, &tenant.name, command).await?;
            let response = to_response(stored, stored_reminders);
            tracing::info!(reminders = response.reminders.len(), "appointment booked");
            StoredAnswer::json(StatusCode::CREATED, response)
        })
        .await?;
    Ok(answer.into_created_response(replayed, "/v1/appointments"))
}

/// `GET /v1/appointments/{id}`: the appointment's status and each reminder's state.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn get_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let id = path.into_inner();
    let response = crate::db::read_snapshot(&mut connection, |connection| {
        load_response(connection, tenant.id, id).boxed()
    })
    .await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `POST /v1/appointments/{id}/cancel`: cancels it and drops its pending reminders.
/// Cancelling a cancelled appointment answers it unchanged. Honours `Idempotency-Key`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn cancel_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let appointment_id = path.into_inner();
    let request_key = RequestKey::of(&request, b"")?;
    let outcome = idempotency::run_once(
        &state.pool,
        &state.relay_waker,
        tenant.id,
        &request_key,
        async |transaction| {
            let connection = transaction.connection().await?;
            let command = CancelBooking {
                appointment_id,
                slot: None,
                start: None,
                reason: "api".to_owned(),
            };
            commands::cancel(connection, tenant.id, command, Utc::now())
                .await
                .map_err(bookings::native_problem)?;
            let response = load_response(connection, tenant.id, appointment_id).await?;
            StoredAnswer::json(StatusCode::OK, response)
        },
    )
    .await;
    state.calendars.bookings_changed(tenant.id);
    let (answer, replayed) = outcome?;
    Ok(answer.into_response(replayed))
}

/// `POST /v1/appointments/{id}/no-show`: records that the customer did not come. Pending
/// reminders and the follow-up are dropped and the no-show message goes out now (see
/// docs/reminder-policies.md). Only once the appointment has started; recording it again
/// answers it unchanged. Honours `Idempotency-Key`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn record_no_show(
    tenant: Tenant,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let appointment_id = path.into_inner();
    let request_key = RequestKey::of(&request, b"")?;
    let (answer, replayed) = idempotency::run_once(
        &state.pool,
        &state.relay_waker,
        tenant.id,
        &request_key,
        async |transaction| {
            let connection = transaction.connection().await?;
            commands::record_no_show(
                connection,
                tenant.id,
                &tenant.name,
                appointment_id,
                Utc::now(),
            )
            .await
            .map_err(bookings::native_problem)?;
            let response = load_response(connection, tenant.id, appointment_id).await?;
            StoredAnswer::json(StatusCode::OK, response)
        },
    )
    .await?;
    Ok(answer.into_response(replayed))
}
