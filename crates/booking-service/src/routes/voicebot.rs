//! The voicebot webhook dialect: `POST /voicebot/webhook`, one endpoint dispatching on
//! `action`, with the request and response fields of the voicebot's contract
//! (`shared/seeds/voicebot-webhook.txt`).
//!
//! Authenticated like the native API, by the tenant's key as `Authorization: Bearer`.
//! Errors are problem+json (the contract defines none): a 4xx the bot can log, naming the
//! field in the contract's own spelling, never a 500 for bad input.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use attend_runtime::Problem;
use attend_runtime::http::{JsonBytes, parse_json};
use attend_runtime::outbox::RelayWake;
use attend_runtime::pipelined::PipelinedTransaction;

use crate::auth::Tenant;
use crate::booking::commands::{self, BookSlot, BookingView, CancelBooking, MoveBooking};
use crate::booking::customers::{self, CustomerRow, RawPerson, validate_person};
use crate::booking::idempotency::{self, RequestKey, StoredAnswer};
use crate::booking::slots::{self, SlotQuery, Window};
use crate::booking::{BookingError, Role, Subject};
use crate::db::scheduling;
use crate::db::schema::{appointment_types, appointments};
use crate::domain::slot_id::SlotId;
use crate::domain::slots::local_instant;
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// The actions of the contract.
const ACTIONS: [&str; 13] = [
    "getEntityForSipId",
    "getBusinessName",
    "getAppointmentTypes",
    "getAgents",
    "getProducts",
    "getAppointmentTypesWithProducts",
    "getSlots",
    "getRequiredInfo",
    "bookAppointment",
    "modifyAppointment",
    "cancelAppointment",
    "findExistingUser",
    "findExistingBooking",
];

#[derive(Deserialize)]
struct Envelope {
    action: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SipIdRequest {
    sip_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityRequest {
    entity_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntityTypeRequest {
    entity_id: String,
    appointment_type_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlotsRequest {
    appointment_type_id: Option<String>,
    agent_id: Option<String>,
    product_id: String,
    date_time: String,
    timezone: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProductRequest {
    product_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookRequest {
    appointment_type_id: Option<String>,
    product_id: String,
    slot_id: String,
    start: Option<String>,
    booker: User,
    participant: Option<User>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModifyRequest {
    booking_id: String,
    slot_id_old: Option<String>,
    slot_id_new: String,
    start: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CancelRequest {
    booking_id: String,
    slot_id: Option<String>,
    start: Option<String>,
}

#[derive(Deserialize)]
struct FindUserRequest {
    participant: Option<User>,
    booker: Option<User>,
}

#[derive(Deserialize)]
struct FindBookingRequest {
    id: String,
}

/// The contract's User record. It spells the last name `lastlame`; both spellings are read.
#[derive(Debug, Default, Deserialize)]
struct User {
    id: Option<String>,
    firstname: Option<String>,
    lastname: Option<String>,
    lastlame: Option<String>,
    email: Option<String>,
    dob: Option<String>,
    phone: Option<String>,
    street: Option<String>,
    zip: Option<String>,
    city: Option<String>,
    country: Option<String>,
}

impl From<User> for RawPerson {
    fn from(user: User) -> Self {
        RawPerson {
            id: user.id,
            first_name: user.firstname,
            last_name: user.lastname.or(user.lastlame),
            date_of_birth: user.dob,
            phone: user.phone,
            email: user.email,
            street: user.street,
            zip: user.zip,
            city: user.city,
            country: user.country,
        }
    }
}

/// A User as answered: both `lastname` and the contract's `lastlame`, so clients written
/// against either spelling read it.
#[derive(Serialize)]
struct UserAnswer {
    id: Uuid,
    firstname: String,
    lastname: String,
    lastlame: String,
    email: Option<String>,
    dob: Option<String>,
    phone: Option<String>,
    street: Option<String>,
    zip: Option<String>,
    city: Option<String>,
    country: Option<String>,
}

impl From<CustomerRow> for UserAnswer {
    fn from(row: CustomerRow) -> Self {
        Self {
            id: row.id,
            firstname: row.first_name,
            lastname: row.last_name.clone(),
            lastlame: row.last_name,
            email: row.email,
            dob: row
                .date_of_birth
                .map(|date| date.format("%Y-%m-%d").to_string()),
            phone: row.phone_e164,
            street: row.street,
            zip: row.zip,
            city: row.city,
            country: row.country,
        }
    }
}

/// `POST /voicebot/webhook`: answers one action of the voicebot contract.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, action))]
pub async fn webhook(
    tenant: Tenant,
    state: web::Data<AppState>,
    request: HttpRequest,
    JsonBytes(body): JsonBytes,
) -> Result<HttpResponse, ApiError> {
    let Envelope { action } = parse_json(&body)?;
    tracing::Span::current().record("action", action.as_str());
    let now = Utc::now();
    match action.as_str() {
        "bookAppointment" | "modifyAppointment" | "cancelAppointment" => {
            return write_action(&tenant, &state, &request, &body, &action, now).await;
        }
        _ => {}
    }
    let mut connection = state.pool.get().await?;
    let connection = &mut *connection;
    let answer = match action.as_str() {
        "getEntityForSipId" => {
            let request: SipIdRequest = parse_json(&body)?;
            let entity_id =
                scheduling::entity_for_sip_id(connection, tenant.id, request.sip_id.trim())
                    .await?
                    .ok_or_else(|| unknown("sipId", "no business entity answers this SIP id"))?;
            json!({ "entityId": entity_id })
        }
        "getBusinessName" => {
            let request: EntityRequest = parse_json(&body)?;
            let entity = find_entity(connection, &tenant, &request.entity_id).await?;
            json!({ "name": entity.name })
        }
        "getAppointmentTypes" => {
            let request: EntityRequest = parse_json(&body)?;
            let entity = find_entity(connection, &tenant, &request.entity_id).await?;
            let types = scheduling::appointment_types_of(connection, tenant.id, entity.id).await?;
            json!(
                types
                    .into_iter()
                    .map(|found| json!({ "id": found.id, "name": found.name }))
                    .collect::<Vec<_>>()
            )
        }
        "getAgents" => {
            let request: EntityTypeRequest = parse_json(&body)?;
            let type_id = find_type_of_entity(
                connection,
                &tenant,
                &request.entity_id,
                &request.appointment_type_id,
            )
            .await?;
            let agents = scheduling::agents_serving(connection, tenant.id, type_id, None).await?;
            json!(
                agents
                    .into_iter()
                    .map(|agent| json!({
                        "id": agent.id,
                        "gender": agent.gender,
                        "firstname": agent.first_name,
                        "lastname": agent.last_name,
                    }))
                    .collect::<Vec<_>>()
            )
        }
        "getProducts" => {
            let request: EntityTypeRequest = parse_json(&body)?;
            let type_id = find_type_of_entity(
                connection,
                &tenant,
                &request.entity_id,
                &request.appointment_type_id,
            )
            .await?;
            let products = scheduling::products_of(connection, tenant.id, &[type_id]).await?;
            json!(products.into_iter().map(product_answer).collect::<Vec<_>>())
        }
        "getAppointmentTypesWithProducts" => {
            let request: EntityRequest = parse_json(&body)?;
            let entity = find_entity(connection, &tenant, &request.entity_id).await?;
            let types = scheduling::appointment_types_of(connection, tenant.id, entity.id).await?;
            let type_ids: Vec<Uuid> = types.iter().map(|found| found.id).collect();
            let products = scheduling::products_of(connection, tenant.id, &type_ids).await?;
            json!(
                types
                    .into_iter()
                    .map(|found| {
                        let offered: Vec<_> = products
                            .iter()
                            .filter(|product| product.appointment_type_id == found.id)
                            .cloned()
                            .map(product_answer)
                            .collect();
                        json!({ "id": found.id, "name": found.name, "products": offered })
                    })
                    .collect::<Vec<_>>()
            )
        }
        "getSlots" => {
            let request: SlotsRequest = parse_json(&body)?;
            let slots = get_slots(connection, &tenant, &state, request, now).await?;
            // Serialized straight from typed items: the hottest answer skips building a
            // JSON tree per slot.
            return Ok(HttpResponse::Ok().json(slots));
        }
        "getRequiredInfo" => {
            let request: ProductRequest = parse_json(&body)?;
            let product_id = parse_id("productId", &request.product_id, "product")?;
            let context = scheduling::product_context(connection, tenant.id, product_id)
                .await?
                .ok_or_else(|| unknown("productId", "no such product"))?;
            json!({
                "bookerInfo": context.product.booker_info,
                "participantInfo": context.product.participant_info,
            })
        }
        "findExistingUser" => {
            let request: FindUserRequest = parse_json(&body)?;
            find_existing_user(connection, &tenant, request, now).await?
        }
        "findExistingBooking" => {
            let request: FindBookingRequest = parse_json(&body)?;
            find_existing_booking(connection, &tenant, &request.id, now).await?
        }
        other => {
            return Err(Problem::invalid_field(
                "action",
                format!(
                    "unknown action {other:?}; expected one of {}",
                    ACTIONS.join(", ")
                ),
            )
            .into());
        }
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// Runs book, modify or cancel in one transaction, at most once per `Idempotency-Key`.
async fn write_action(
    tenant: &Tenant,
    state: &AppState,
    request: &HttpRequest,
    body: &[u8],
    action: &str,
    now: DateTime<Utc>,
) -> Result<HttpResponse, ApiError> {
    let request_key = RequestKey::of(request, body)?;
    // Parse and validate before taking a connection: bad input never touches the database.
    let command = WriteCommand::parse(action, body, tenant, now)?;
    let outcome = idempotency::run_once(
        &state.pool,
        &state.relay_waker,
        tenant.id,
        &request_key,
        async |transaction| command.run(transaction, tenant, state, now).await,
    )
    .await;
    // After the commit, whatever the answer: a refused booking may mean a cached busy time
    // was stale (written through another replica), and the next search should read afresh.
    state.calendars.bookings_changed(tenant.id);
    let (answer, replayed) = outcome?;
    Ok(answer.into_response(replayed))
}

enum WriteCommand {
    Book(Box<BookSlot>),
    Modify(MoveBooking),
    Cancel(CancelBooking),
}

impl WriteCommand {
    fn parse(
        action: &str,
        body: &[u8],
        tenant: &Tenant,
        now: DateTime<Utc>,
    ) -> Result<Self, ApiError> {
        let mut issues = Issues::default();
        let command = match action {
            "bookAppointment" => {
                let request: BookRequest = parse_json(body)?;
                let product_id = parse_id("productId", &request.product_id, "product")?;
                let appointment_type_id = request
                    .appointment_type_id
                    .as_deref()
                    .filter(|text| !text.trim().is_empty())
                    .map(|text| parse_id("appointmentTypeId", text, "appointment type"))
                    .transpose()?;
                let slot = parse_slot("slotId", &request.slot_id, &mut issues);
                let start = parse_optional_instant("start", request.start.as_deref(), &mut issues);
                let today = now.date_naive();
                let booker = validate_person(
                    request.booker.into(),
                    "booker",
                    contract_field,
                    &tenant.default_region,
                    today,
                    &mut issues,
                );
                let participant = request.participant.map(|participant| {
                    validate_person(
                        participant.into(),
                        "participant",
                        contract_field,
                        &tenant.default_region,
                        today,
                        &mut issues,
                    )
                });
                issues.finish()?;
                let slot = slot.ok_or_else(|| Problem::invalid_field("slotId", "is invalid"))?;
                Self::Book(Box::new(BookSlot {
                    product_id,
                    appointment_type_id,
                    slot,
                    start,
                    booker,
                    participant,
                    source: "voicebot",
                    // write_action runs it through run_once, which wakes the relay after
                    // the commit.
                    relay_wake: RelayWake::InProcess,
                }))
            }
            "modifyAppointment" => {
                let request: ModifyRequest = parse_json(body)?;
                let appointment_id = parse_id("bookingId", &request.booking_id, "booking")?;
                let old_slot = request
                    .slot_id_old
                    .as_deref()
                    .filter(|text| !text.trim().is_empty())
                    .and_then(|text| parse_slot("slotIdOld", text, &mut issues));
                let new_slot = parse_slot("slotIdNew", &request.slot_id_new, &mut issues);
                let start = parse_optional_instant("start", request.start.as_deref(), &mut issues);
                issues.finish()?;
                let new_slot =
                    new_slot.ok_or_else(|| Problem::invalid_field("slotIdNew", "is invalid"))?;
                Self::Modify(MoveBooking {
                    appointment_id,
                    old_slot,
                    new_slot,
                    start,
                })
            }
            _ => {
                let request: CancelRequest = parse_json(body)?;
                let appointment_id = parse_id("bookingId", &request.booking_id, "booking")?;
                let slot = request
                    .slot_id
                    .as_deref()
                    .filter(|text| !text.trim().is_empty())
                    .and_then(|text| parse_slot("slotId", text, &mut issues));
                let start = parse_optional_instant("start", request.start.as_deref(), &mut issues);
                issues.finish()?;
                Self::Cancel(CancelBooking {
                    appointment_id,
                    slot,
                    start,
                    reason: "customer_request".to_owned(),
                })
            }
        };
        Ok(command)
    }

    async fn run(
        &self,
        transaction: &mut PipelinedTransaction<'_>,
        tenant: &Tenant,
        state: &AppState,
        now: DateTime<Utc>,
    ) -> Result<StoredAnswer, ApiError> {
        let cache = Some(&*state.calendars);
        match self {
            Self::Book(command) => {
                let booked =
                    commands::book(transaction, tenant.id, (**command).clone(), now, cache)
                        .await
                        .map_err(|error| booking_problem(error, "slotId"))?;
                StoredAnswer::json(StatusCode::OK, booking_answer(&booked))
            }
            Self::Modify(command) => {
                let connection = transaction.connection().await?;
                let moved = commands::move_booking(connection, tenant.id, *command, now, cache)
                    .await
                    .map_err(|error| booking_problem(error, "slotIdNew"))?;
                StoredAnswer::json(StatusCode::OK, booking_answer(&moved))
            }
            Self::Cancel(command) => {
                let connection = transaction.connection().await?;
                let cancelled = commands::cancel(connection, tenant.id, command.clone(), now)
                    .await
                    .map_err(|error| booking_problem(error, "slotId"))?;
                StoredAnswer::json(
                    StatusCode::OK,
                    json!({
                        "bookingId": cancelled.appointment_id,
                        "slotId": cancelled.slot_id.map(|slot| slot.encode()),
                        "start": format_instant(cancelled.start, cancelled.zone),
                        "status": cancelled.status,
                    }),
                )
            }
        }
    }
}

fn booking_answer(view: &BookingView) -> serde_json::Value {
    json!({
        "bookingId": view.appointment_id,
        "slotId": view.slot_id.map(|slot| slot.encode()),
        "start": format_instant(view.start, view.zone),
        "end": format_instant(view.end, view.zone),
        "name": view.type_name,
        "appointmentTypeId": view.catalog.appointment_type_id,
        "productId": view.catalog.product_id,
        "agentId": view.catalog.agent_id,
        "userId": view.catalog.booker_id.unwrap_or(view.participant_id),
        "participantId": view.participant_id,
        "status": view.status,
    })
}

async fn get_slots(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    state: &AppState,
    request: SlotsRequest,
    now: DateTime<Utc>,
) -> Result<Vec<OfferedSlotAnswer>, ApiError> {
    let mut issues = Issues::default();
    let display_zone = match request.timezone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(name) => {
            let zone = name.parse::<Tz>();
            if zone.is_err() {
                issues.add(
                    "timezone",
                    "must be an IANA time zone such as Europe/Berlin",
                );
            }
            zone.ok()
        }
    };
    let product_id = parse_id("productId", &request.product_id, "product")?;
    let appointment_type_id = request
        .appointment_type_id
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse_id("appointmentTypeId", text, "appointment type"))
        .transpose()?;
    let agent_id = request
        .agent_id
        .as_deref()
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse_id("agentId", text, "agent"))
        .transpose()?;
    issues.finish()?;
    // A date-time without an offset is read in the zone the caller asked for, or the
    // entity's; the entity's zone is only known once the product is read.
    let schedule = slots::cached_schedule(
        connection,
        tenant.id,
        product_id,
        now,
        Some(&state.calendars),
    )
    .await
    .map_err(|error| booking_problem(error, "agentId"))?;
    let reading_zone = display_zone.unwrap_or_else(|| slots::entity_zone(&schedule.context));
    let window = parse_window(&request.date_time, reading_zone).ok_or_else(|| {
        Problem::invalid_field(
            "dateTime",
            "must be an ISO 8601 date (2024-09-16) or date-time (2024-09-16T14:00:00+02:00)",
        )
    })?;
    let query = SlotQuery {
        product_id,
        appointment_type_id,
        agent_id,
        window,
    };
    let answer = slots::find_slots(
        connection,
        tenant.id,
        query,
        display_zone,
        now,
        Some(&state.calendars),
    )
    .await
    .map_err(|error| booking_problem(error, "agentId"))?;
    Ok(answer
        .slots
        .iter()
        .map(|slot| OfferedSlotAnswer {
            av_id: slot.id.encode(),
            slot_start: format_instant(slot.start, answer.zone),
            slot_end: format_instant(slot.end, answer.zone),
        })
        .collect())
}

/// One slot of the `getSlots` answer.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OfferedSlotAnswer {
    av_id: String,
    slot_start: String,
    slot_end: String,
}

/// Reads `dateTime`: a date is that whole day; a date-time is from then to the end of its day.
fn parse_window(text: &str, zone: Tz) -> Option<Window> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(Window::Day(date));
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Some(Window::From(instant.with_timezone(&Utc)));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            let minute = u16::try_from(
                local
                    .time()
                    .signed_duration_since(chrono::NaiveTime::MIN)
                    .num_minutes(),
            )
            .ok()?;
            let instant = match zone.from_local_datetime(&local).earliest() {
                Some(instant) => instant.with_timezone(&Utc),
                None => local_instant(zone, local.date(), minute, false),
            };
            return Some(Window::From(instant));
        }
    }
    None
}

async fn find_existing_user(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    request: FindUserRequest,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    let (prefix, user) = match (request.participant, request.booker) {
        (Some(user), _) => ("participant", user),
        (None, Some(user)) => ("booker", user),
        (None, None) => {
            return Err(Problem::invalid_field("participant", "is required").into());
        }
    };
    let mut issues = Issues::default();
    let person = validate_person(
        user.into(),
        prefix,
        contract_field,
        &tenant.default_region,
        now.date_naive(),
        &mut issues,
    );
    if person.id.is_none() && person.last_name.is_none() && person.phone.is_none() {
        issues.add(
            format!("{prefix}.lastname"),
            "give at least the last name, the phone or the id",
        );
    }
    issues.finish()?;
    let matches = customers::find_matching(connection, tenant.id, &person).await?;
    Ok(json!(
        matches
            .into_iter()
            .map(UserAnswer::from)
            .collect::<Vec<_>>()
    ))
}

async fn find_existing_booking(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    customer_id: &str,
    now: DateTime<Utc>,
) -> Result<serde_json::Value, ApiError> {
    let customer_id = parse_id("id", customer_id, "user")?;
    let person = customers::Person {
        id: Some(customer_id),
        ..customers::Person::default()
    };
    if customers::find_matching(connection, tenant.id, &person)
        .await?
        .is_empty()
    {
        return Err(unknown("id", "no such user").into());
    }
    type Row = (
        Uuid,
        DateTime<Utc>,
        String,
        Option<Uuid>,
        Option<Uuid>,
        Option<String>,
    );
    let rows: Vec<Row> = appointments::table
        .left_join(appointment_types::table)
        .filter(appointments::tenant_id.eq(tenant.id))
        .filter(
            appointments::customer_id
                .eq(customer_id)
                .or(appointments::booker_id.eq(customer_id)),
        )
        .filter(appointments::status.ne("cancelled"))
        .filter(appointments::starts_at.gt(now))
        .order(appointments::starts_at)
        .select((
            appointments::id,
            appointments::starts_at,
            appointments::time_zone,
            appointments::agent_id,
            appointments::product_id,
            appointment_types::name.nullable(),
        ))
        .limit(50)
        .load(connection)
        .await?;
    Ok(json!(
        rows.into_iter()
            .map(|(id, start, time_zone, agent_id, product_id, type_name)| {
                let zone = time_zone.parse().unwrap_or(Tz::UTC);
                json!({
                    "bookingId": id,
                    "name": type_name.unwrap_or_else(|| "Appointment".to_owned()),
                    "slotId": agent_id.map(|agent_id| SlotId {
                        holder: crate::domain::slot_id::SlotHolder::Agent(agent_id),
                        start,
                    }.encode()),
                    "start": format_instant(start, zone),
                    "productId": product_id,
                })
            })
            .collect::<Vec<_>>()
    ))
}

fn product_answer(product: scheduling::ProductRow) -> serde_json::Value {
    json!({
        "id": product.id,
        "name": product.name,
        "duration": product.duration_minutes,
        "description": product.description,
        "price": price_number(product.price_cents),
    })
}

/// Returns a price in minor units as a JSON number in major units: 4500 → 45, 4550 → 45.5.
pub fn price_number(cents: i64) -> serde_json::Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        // Cents below 2^53 are exact in a double; prices never come near.
        #[expect(
            clippy::cast_precision_loss,
            reason = "prices are far below 2^53 cents"
        )]
        let major = cents as f64 / 100.0;
        json!(major)
    }
}

async fn find_entity(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    entity_id: &str,
) -> Result<scheduling::EntityRow, ApiError> {
    let id = parse_id("entityId", entity_id, "business entity")?;
    Ok(scheduling::entity(connection, tenant.id, id)
        .await?
        .ok_or_else(|| unknown("entityId", "no such business entity"))?)
}

async fn find_type_of_entity(
    connection: &mut AsyncPgConnection,
    tenant: &Tenant,
    entity_id: &str,
    appointment_type_id: &str,
) -> Result<Uuid, ApiError> {
    let entity = find_entity(connection, tenant, entity_id).await?;
    let type_id = parse_id("appointmentTypeId", appointment_type_id, "appointment type")?;
    match scheduling::appointment_type(connection, tenant.id, type_id).await? {
        Some(found) if found.entity_id == entity.id => Ok(found.id),
        _ => Err(unknown(
            "appointmentTypeId",
            "no such appointment type at this business entity",
        )
        .into()),
    }
}

/// A 404 naming the field whose id is unknown.
fn unknown(field: &str, detail: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found")
        .with_detail(detail)
        .with_field(field, "is unknown")
}

/// Reads an id; text that is not one of our ids is unknown, not malformed: the bot only
/// has ids it was given.
fn parse_id(field: &str, text: &str, what: &str) -> Result<Uuid, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::invalid_field(field, "is required"));
    }
    text.parse()
        .map_err(|_| unknown(field, &format!("no such {what}")))
}

fn parse_slot(field: &str, text: &str, issues: &mut Issues) -> Option<SlotId> {
    match SlotId::decode(text) {
        Ok(slot) => Some(slot),
        Err(error) => {
            issues.add(field, error.to_string());
            None
        }
    }
}

fn parse_optional_instant(
    field: &str,
    text: Option<&str>,
    issues: &mut Issues,
) -> Option<DateTime<Utc>> {
    let text = text.map(str::trim).filter(|text| !text.is_empty())?;
    match DateTime::parse_from_rfc3339(text) {
        Ok(instant) => Some(instant.with_timezone(&Utc)),
        Err(_) => {
            issues.add(
                field,
                "must be an ISO 8601 date-time with offset, e.g. 2024-09-16T08:30:00.000+02:00",
            );
            None
        }
    }
}

/// Formats an instant the way the contract does, in `zone`:
/// `2024-09-16T08:30:00.000+02:00` (milliseconds, and an offset even for UTC).
pub fn format_instant(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

/// The contract's User field names are the info names themselves.
fn contract_field(info: &'static str) -> &'static str {
    info
}

/// Turns a booking failure into a problem naming the contract's fields; `slot_field` is the
/// slot the request offered (`slotId`, `slotIdNew`) or, for slot searches, `agentId`.
fn booking_problem(error: BookingError, slot_field: &str) -> ApiError {
    let problem = match error {
        BookingError::NotFound(subject) => {
            let (field, what) = match subject {
                Subject::Entity => ("entityId", "no such business entity"),
                Subject::AppointmentType => ("appointmentTypeId", "no such appointment type"),
                Subject::Product => ("productId", "no such product"),
                Subject::Agent => ("agentId", "no such agent"),
                Subject::Booking => ("bookingId", "no such booking"),
            };
            unknown(field, what)
        }
        BookingError::ProductNotOfType => Problem::invalid_field(
            "productId",
            "is not a product of the appointment type given",
        ),
        BookingError::AgentNotServingType if slot_field == "agentId" => {
            Problem::invalid_field("agentId", "does not serve this appointment type")
        }
        BookingError::AgentNotServingType => Problem::conflict(
            "slot_unavailable",
            "the agent of this slot no longer serves this appointment type; call getSlots again",
        )
        .with_field(slot_field, "is no longer offered"),
        BookingError::SlotOfOtherType => {
            Problem::invalid_field(slot_field, "was offered for another appointment type")
        }
        BookingError::SlotUnavailable(why) => Problem::conflict(
            "slot_unavailable",
            format!("the slot is no longer offered ({why}); call getSlots again"),
        )
        .with_field(slot_field, "is no longer offered"),
        BookingError::SlotTaken => Problem::conflict(
            "slot_taken",
            "the slot has just been booked by someone else; call getSlots again",
        )
        .with_field(slot_field, "is taken"),
        BookingError::StartMismatch => {
            Problem::invalid_field("start", "is not the start of the slot given")
        }
        BookingError::OldSlotMismatch => Problem::conflict(
            "booking_moved",
            "the booking is not in the slot given; call findExistingBooking again",
        )
        .with_field(
            if slot_field == "slotIdNew" {
                "slotIdOld"
            } else {
                "slotId"
            },
            "is not where the booking is",
        ),
        BookingError::BookingCancelled => Problem::conflict(
            "booking_cancelled",
            "the booking is cancelled and cannot be moved",
        )
        .with_field("bookingId", "is cancelled"),
        BookingError::BookingStarted => {
            Problem::conflict("booking_started", "the booking has already started")
                .with_field("bookingId", "has already started")
        }
        BookingError::NotStarted => {
            Problem::conflict("booking_not_started", "the booking has not started yet")
                .with_field("bookingId", "has not started yet")
        }
        BookingError::NoShow => {
            Problem::conflict("booking_no_show", "the booking was marked a no-show")
                .with_field("bookingId", "was marked a no-show")
        }
        BookingError::NotSlotBooking => Problem::invalid_field(
            "bookingId",
            "was not booked from a slot; move it in the CRM",
        ),
        BookingError::MissingInfo(missing) => {
            let mut issues = Issues::default();
            for (role, info) in missing {
                let prefix = match role {
                    Role::Booker => "booker",
                    Role::Participant => "participant",
                };
                issues.add(
                    format!("{prefix}.{info}"),
                    "is required for this product (getRequiredInfo)",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_with_milliseconds_and_a_numeric_offset() {
        let instant = DateTime::parse_from_rfc3339("2024-09-16T06:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_instant(instant, chrono_tz::Europe::Berlin),
            "2024-09-16T08:30:00.000+02:00"
        );
        assert_eq!(
            format_instant(instant, chrono_tz::UTC),
            "2024-09-16T06:30:00.000+00:00"
        );
        assert_eq!(
            format_instant(instant, chrono_tz::America::St_Johns),
            "2024-09-16T04:00:00.000-02:30"
        );
    }
}
