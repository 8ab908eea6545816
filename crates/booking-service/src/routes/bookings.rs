//! The native booking API: free slots of a product, booking a slot, moving a booking.
//! The same commands as the voicebot webhook, with snake_case fields and full
//! appointment answers.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use attend_runtime::Problem;
use attend_runtime::http::{JsonBytes, parse_json};
use attend_runtime::outbox::RelayWake;

use super::appointments::load_response;
use super::voicebot::format_instant;
use crate::auth::Tenant;
use crate::booking::commands::{self, BookSlot, MoveBooking};
use crate::booking::customers::{RawPerson, validate_person};
use crate::booking::idempotency::{self, RequestKey, StoredAnswer};
use crate::booking::slots::{self, SlotQuery, Window};
use crate::booking::{BookingError, Role, Subject};
use crate::domain::slot_id::SlotId;
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// One free slot.
#[derive(Debug, Serialize)]
pub struct SlotResponse {
    /// The id to book it with.
    pub slot_id: String,
    /// Start, RFC 3339 in the zone asked for.
    pub start: String,
    /// End, RFC 3339 in the zone asked for.
    pub end: String,
    /// The agent, when the search named one; otherwise one is picked when booking.
    pub agent_id: Option<Uuid>,
}

/// `GET /v1/slots` answer.
#[derive(Debug, Serialize)]
pub struct SlotsResponse {
    /// The zone the times are shown in.
    pub time_zone: String,
    /// Free slots, earliest first.
    pub items: Vec<SlotResponse>,
}

/// `GET /v1/slots?product_id=&agent_id=&date=YYYY-MM-DD|from=RFC3339&time_zone=`: the free
/// slots of a product for a day, or from an instant to the end of its day.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn list_slots(
    tenant: Tenant,
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut issues = Issues::default();
    let mut uuid_param = |name: &str, required: bool| -> Option<Uuid> {
        match query
            .get(name)
            .map(|text| text.trim())
            .filter(|text| !text.is_empty())
        {
            None => {
                if required {
                    issues.add(name, "is required");
                }
                None
            }
            Some(text) => text
                .parse()
                .map_err(|_| issues.add(name, "must be a UUID"))
                .ok(),
        }
    };
    let product_id = uuid_param("product_id", true);
    let agent_id = uuid_param("agent_id", false);
    let zone = match query.get("time_zone") {
        None => None,
        Some(name) => name
            .parse::<Tz>()
            .map_err(|_| {
                issues.add(
                    "time_zone",
                    "must be an IANA time zone such as Europe/Berlin",
                )
            })
            .ok(),
    };
    let window = match (query.get("date"), query.get("from")) {
        (Some(date), None) => NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map(Window::Day)
            .map_err(|_| issues.add("date", "must be a date written YYYY-MM-DD"))
            .ok(),
        (None, Some(from)) => DateTime::parse_from_rfc3339(from.trim())
            .map(|from| Window::From(from.with_timezone(&Utc)))
            .map_err(|_| issues.add("from", "must be an RFC 3339 date-time with offset"))
            .ok(),
        _ => {
            issues.add("date", "give exactly one of date and from");
            None
        }
    };
    issues.finish()?;
    let (Some(product_id), Some(window)) = (product_id, window) else {
        return Err(Problem::invalid_field("product_id", "is required").into());
    };
    let mut connection = state.pool.get().await?;
    let query = SlotQuery {
        product_id,
        appointment_type_id: None,
        agent_id,
        window,
    };
    let answer = slots::find_slots(
        &mut connection,
        tenant.id,
        query,
        zone,
        Utc::now(),
        Some(&state.calendars),
    )
    .await
    .map_err(|error| match error {
        BookingError::AgentNotServingType => {
            Problem::invalid_field("agent_id", "does not serve this product's appointment type")
                .into()
        }
        other => native_problem(other),
    })?;
    Ok(HttpResponse::Ok().json(SlotsResponse {
        time_zone: answer.zone.name().to_owned(),
        items: answer
            .slots
            .iter()
            .map(|slot| SlotResponse {
                slot_id: slot.id.encode(),
                start: format_instant(slot.start, answer.zone),
                end: format_instant(slot.end, answer.zone),
                agent_id: slot.agent_id,
            })
            .collect(),
    }))
}

/// A person in a native booking request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonRequest {
    /// An existing customer's id.
    pub id: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Date of birth, YYYY-MM-DD.
    pub date_of_birth: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Street.
    pub street: Option<String>,
    /// Postal code.
    pub zip: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Country.
    pub country: Option<String>,
}

impl From<PersonRequest> for RawPerson {
    fn from(person: PersonRequest) -> Self {
        RawPerson {
            id: person.id,
            first_name: person.first_name,
            last_name: person.last_name,
            date_of_birth: person.date_of_birth,
            phone: person.phone,
            email: person.email,
            street: person.street,
            zip: person.zip,
            city: person.city,
            country: person.country,
        }
    }
}

/// `POST /v1/bookings` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBookingRequest {
    /// The product.
    pub product_id: Uuid,
    /// A slot id from `GET /v1/slots`.
    pub slot_id: String,
    /// Who books.
    pub booker: PersonRequest,
    /// Who the appointment is for; the booker when absent.
    pub participant: Option<PersonRequest>,
}

/// `POST /v1/appointments/{id}/move` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    /// Where to move it: a slot id from `GET /v1/slots`.
    pub slot_id: String,
}

/// `POST /v1/bookings`: books a slot; 201 with the appointment. Honours `Idempotency-Key`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn create_booking(
    tenant: Tenant,
    state: web::Data<AppState>,
    request: HttpRequest,
    JsonBytes(body): JsonBytes,
) -> Result<HttpResponse, ApiError> {
    let request_key = RequestKey::of(&request, &body)?;
    let booking: CreateBookingRequest = parse_json(&body)?;
    let now = Utc::now();
    let mut issues = Issues::default();
    let slot = SlotId::decode(&booking.slot_id)
        .map_err(|error| issues.add("slot_id", error.to_string()))
        .ok();
    let booker = validate_person(
        booking.booker.into(),
        "booker",
        native_field,
        &tenant.default_region,
        now.date_naive(),
        &mut issues,
    );
    let participant = booking.participant.map(|participant| {
        validate_person(
            participant.into(),
            "participant",
            native_field,
            &tenant.default_region,
            now.date_naive(),
            &mut issues,
        )
    });
    issues.finish()?;
    let slot = slot.ok_or_else(|| Problem::invalid_field("slot_id", "is invalid"))?;
    let command = BookSlot {
        product_id: booking.product_id,
        appointment_type_id: None,
        slot,
        start: None,
        booker,
        participant,
        source: "api",
        // run_once wakes the relay after the commit.
        relay_wake: RelayWake::InProcess,
    };
    let outcome = idempotency::run_once(
        &state.pool,
        &state.relay_waker,
        tenant.id,
        &request_key,
        async |transaction| {
            let booked =
                commands::book(transaction, tenant.id, command, now, Some(&state.calendars))
                    .await
                    .map_err(native_problem)?;
            let connection = transaction.connection().await?;
            let response = load_response(connection, tenant.id, booked.appointment_id).await?;
            StoredAnswer::json(StatusCode::CREATED, response)
        },
    )
    .await;
    state.calendars.bookings_changed(tenant.id);
    let (answer, replayed) = outcome?;
    Ok(answer.into_created_response(replayed, "/v1/appointments"))
}

/// `POST /v1/appointments/{id}/move`: moves a slot booking to another slot, atomically.
/// Honours `Idempotency-Key`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, appointment_id = %path))]
pub async fn move_appointment(
    tenant: Tenant,
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<Uuid>,
    JsonBytes(body): JsonBytes,
) -> Result<HttpResponse, ApiError> {
    let appointment_id = path.into_inner();
    let request_key = RequestKey::of(&request, &body)?;
    let moved: MoveRequest = parse_json(&body)?;
    let new_slot = SlotId::decode(&moved.slot_id)
        .map_err(|error| Problem::invalid_field("slot_id", error.to_string()))?;
    let command = MoveBooking {
        appointment_id,
        old_slot: None,
        new_slot,
        start: None,
    };
    let outcome = idempotency::run_once(
        &state.pool,
        &state.relay_waker,
        tenant.id,
        &request_key,
        async |transaction| {
            let connection = transaction.connection().await?;
            commands::move_booking(
                connection,
                tenant.id,
                command,
                Utc::now(),
                Some(&state.calendars),
            )
            .await
            .map_err(native_problem)?;
            let response = load_response(connection, tenant.id, appointment_id).await?;
            StoredAnswer::json(StatusCode::OK, response)
        },
    )
    .await;
    state.calendars.bookings_changed(tenant.id);
    let (answer, replayed) = outcome?;
    Ok(answer.into_response(replayed))
}

/// The native API's names for the info fields of a person.
fn native_field(info: &'static str) -> &'static str {
    match info {
        "firstname" => "first_name",
        "lastname" => "last_name",
        "dob" => "date_of_birth",
        other => other,
    }
}

/// Turns a booking failure into the native API's problem.
pub fn native_problem(error: BookingError) -> ApiError {
    let problem = match error {
        BookingError::NotFound(Subject::Booking) => Problem::not_found("appointment"),
        BookingError::NotFound(subject) => {
            let field = match subject {
                Subject::Entity => "entity_id",
                Subject::AppointmentType => "appointment_type_id",
                Subject::Agent => "agent_id",
                Subject::Product | Subject::Booking => "product_id",
            };
            Problem::invalid_field(field, "is unknown")
        }
        BookingError::ProductNotOfType => {
            Problem::invalid_field("product_id", "is not of the appointment type given")
        }
        BookingError::AgentNotServingType => Problem::conflict(
            "slot_unavailable",
            "the agent of this slot no longer serves this appointment type",
        )
        .with_field("slot_id", "is no longer offered"),
        BookingError::SlotOfOtherType => {
            Problem::invalid_field("slot_id", "was offered for another product's type")
        }
        BookingError::SlotUnavailable(why) => Problem::conflict(
            "slot_unavailable",
            format!("the slot is no longer offered ({why}); list the slots again"),
        )
        .with_field("slot_id", "is no longer offered"),
        BookingError::SlotTaken => Problem::conflict(
            "slot_taken",
            "the slot has just been booked by someone else; list the slots again",
        )
        .with_field("slot_id", "is taken"),
        BookingError::StartMismatch | BookingError::OldSlotMismatch => Problem::conflict(
            "booking_moved",
            "the appointment is not where the request says; read it again",
        ),
        BookingError::BookingCancelled => {
            Problem::conflict("appointment_cancelled", "the appointment is cancelled")
        }
        BookingError::BookingStarted => {
            Problem::conflict("appointment_started", "the appointment has already started")
        }
        BookingError::NotStarted => Problem::conflict(
            "appointment_not_started",
            "the appointment has not started yet; a no-show is recorded once it has",
        ),
        BookingError::NoShow => Problem::conflict(
            "appointment_no_show",
            "the appointment was marked a no-show",
        ),
        BookingError::NotSlotBooking => Problem::conflict(
            "not_a_slot_booking",
            "the appointment was not booked from a slot; cancel it and book a slot instead",
        ),
        BookingError::MissingInfo(missing) => {
            let mut issues = Issues::default();
            for (role, info) in missing {
                let prefix = match role {
                    Role::Booker => "booker",
                    Role::Participant => "participant",
                };
                issues.add(
                    format!("{prefix}.{}", native_field(info)),
                    "is required for this product",
                );
            }
            issues
                .into_problem()
                .unwrap_or_else(|| Problem::invalid_field("booker", "is incomplete"))
        }
        BookingError::Database(error) => return error.into(),
    };
    problem.into()
}
