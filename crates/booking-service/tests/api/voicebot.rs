//! The voicebot webhook, action by action, with the contract's example payloads adapted to
//! seeded ids.

use std::time::Duration;

use attend_events::{Event, v1};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{Observer, TestApp, decode};
use crate::seed::{CatalogSpec, date_in, example_booker, seed_catalog};

const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

async fn appointment_count(app: &TestApp) -> i64 {
    let mut connection = app.env.connect("booking").await.unwrap();
    diesel::sql_query("SELECT count(*) AS count FROM appointments WHERE status <> 'cancelled'")
        .get_result::<Count>(&mut connection)
        .await
        .unwrap()
        .count
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    count: i64,
}

#[tokio::test]
async fn a_whole_conversation_follows_the_contract() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let mut observer = Observer::bind(
        &app.env,
        &[
            "appointment.scheduled",
            "appointment.rescheduled",
            "appointment.cancelled",
        ],
    )
    .await;

    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "getEntityForSipId", "sipId": catalog.sip_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"entityId": catalog.entity_id}));
    let entity_id = body["entityId"].as_str().unwrap().to_owned();

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getBusinessName", "entityId": entity_id}),
        )
        .await;
    assert_eq!(body, json!({"name": "Physiotherapie Gleichgewicht"}));

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getAppointmentTypes", "entityId": entity_id}),
        )
        .await;
    assert_eq!(
        body,
        json!([
            {"id": catalog.gymnastics, "name": "Krankengymnastik"},
            {"id": catalog.massage, "name": "Massage"}
        ])
    );

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getAgents", "entityId": entity_id, "appointmentTypeId": catalog.massage}),
        )
        .await;
    let agents = body.as_array().unwrap();
    assert_eq!(agents.len(), 2);
    let max = agents
        .iter()
        .find(|agent| agent["id"] == json!(catalog.max))
        .unwrap();
    assert_eq!(
        max,
        &json!({"id": catalog.max, "gender": "male", "firstname": "Max", "lastname": "Mustermann"})
    );

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getProducts", "entityId": entity_id, "appointmentTypeId": catalog.massage}),
        )
        .await;
    assert_eq!(
        body,
        json!([
            {"id": catalog.massage_30, "name": "30 min Massage", "duration": 30,
             "description": "A relaxing 30 min session", "price": 45},
            {"id": catalog.massage_45, "name": "45 min Massage", "duration": 45,
             "description": "A relaxing 45 min session", "price": 60.5}
        ])
    );

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getAppointmentTypesWithProducts", "entityId": entity_id}),
        )
        .await;
    assert_eq!(body[1]["name"], "Massage");
    assert_eq!(body[1]["products"].as_array().unwrap().len(), 2);
    assert_eq!(body[0]["products"][0]["id"], json!(catalog.gymnastics_60));

    let day = date_in(10, BERLIN);
    let (status, slots) = app
        .voicebot(
            &key,
            &json!({
                "action": "getSlots",
                "appointmentTypeId": catalog.massage,
                "agentId": catalog.max,
                "productId": catalog.massage_30,
                "dateTime": day,
                "timezone": "Europe/Berlin"
            }),
        )
        .await;
    assert_eq!(status, 200, "{slots}");
    let slots = slots.as_array().unwrap().clone();
    assert_eq!(slots.len(), 8, "08:00 to 12:00 in 30-minute slots");
    let first_start = slots[0]["slotStart"].as_str().unwrap();
    assert!(
        first_start.starts_with(&format!("{day}T08:00:00.000+0")),
        "{first_start}"
    );
    assert!(
        slots[0]["slotEnd"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{day}T08:30:00.000"))
    );
    let chosen = slots[1].clone();

    let (_, body) = app
        .voicebot(
            &key,
            &json!({"action": "getRequiredInfo", "productId": catalog.massage_30}),
        )
        .await;
    assert_eq!(
        body,
        json!({
            "bookerInfo": ["firstname", "lastname", "phone", "email"],
            "participantInfo": ["firstname", "lastname", "dob"]
        })
    );

    let (status, booked) = app
        .voicebot(
            &key,
            &json!({
                "action": "bookAppointment",
                "appointmentTypeId": catalog.massage,
                "productId": catalog.massage_30,
                "slotId": chosen["avId"],
                "start": chosen["slotStart"],
                "booker": example_booker(),
                "participant": example_booker()
            }),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    assert_eq!(booked["start"], chosen["slotStart"]);
    assert_eq!(booked["agentId"], json!(catalog.max));
    assert_eq!(booked["name"], "Massage");
    let booking_id = booked["bookingId"].as_str().unwrap().to_owned();
    let (kind, payload) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::AppointmentScheduled::TYPE);
    let scheduled: v1::AppointmentScheduled = decode(&payload);
    let details = scheduled.appointment.unwrap();
    assert_eq!(details.appointment_id, booking_id);
    assert_eq!(details.business_name, "Physiotherapie Gleichgewicht");
    let recipient = details.recipient.unwrap();
    assert_eq!(recipient.phone_e164, "+493411234567");
    assert_eq!(recipient.locale, "de");
    assert_eq!(recipient.time_zone, "Europe/Berlin");
    assert_eq!(
        scheduled.reminders.len(),
        1,
        "the entity's one-day reminder"
    );

    // The booked slot is gone for Max.
    let (_, after) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "appointmentTypeId": catalog.massage, "agentId": catalog.max,
                    "productId": catalog.massage_30, "dateTime": day, "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(after.as_array().unwrap().len(), 7);
    assert!(!after.as_array().unwrap().contains(&chosen));

    // The caller calls back later: found however they spell their name.
    let (status, users) = app
        .voicebot(
            &key,
            &json!({"action": "findExistingUser",
                    "participant": {"firstname": "max", "lastlame": "MUSTERMÄNN", "dob": "1985-07-25"}}),
        )
        .await;
    assert_eq!(status, 200, "{users}");
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert_eq!(users[0]["lastname"], "Mustermann");
    assert_eq!(users[0]["lastlame"], "Mustermann");
    assert_eq!(users[0]["phone"], "+493411234567");
    assert_eq!(users[0]["dob"], "1985-07-25");
    let user_id = users[0]["id"].as_str().unwrap().to_owned();
    let (_, nobody) = app
        .voicebot(
            &key,
            &json!({"action": "findExistingUser",
                    "participant": {"firstname": "Max", "lastname": "Mustermann", "dob": "1990-01-01"}}),
        )
        .await;
    assert_eq!(nobody, json!([]));

    let (_, bookings) = app
        .voicebot(
            &key,
            &json!({"action": "findExistingBooking", "id": user_id}),
        )
        .await;
    assert_eq!(
        bookings,
        json!([{
            "bookingId": booking_id,
            "name": "Massage",
            "slotId": chosen["avId"],
            "start": chosen["slotStart"],
            "productId": catalog.massage_30
        }])
    );

    let new_slot = slots[4].clone();
    let (status, moved) = app
        .voicebot(
            &key,
            &json!({"action": "modifyAppointment", "bookingId": booking_id,
                    "slotIdOld": chosen["avId"], "slotIdNew": new_slot["avId"],
                    "start": new_slot["slotStart"]}),
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["bookingId"], json!(booking_id));
    assert_eq!(moved["start"], new_slot["slotStart"]);
    let (kind, payload) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::AppointmentRescheduled::TYPE);
    let rescheduled: v1::AppointmentRescheduled = decode(&payload);
    assert_eq!(rescheduled.reminders.len(), 1);
    assert_ne!(
        rescheduled.reminders[0].reminder_id, scheduled.reminders[0].reminder_id,
        "the old reminder is replaced"
    );

    // The old slot is free again, the new one taken.
    let (_, after_move) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "appointmentTypeId": catalog.massage, "agentId": catalog.max,
                    "productId": catalog.massage_30, "dateTime": day, "timezone": "Europe/Berlin"}),
        )
        .await;
    assert!(after_move.as_array().unwrap().contains(&chosen));
    assert!(!after_move.as_array().unwrap().contains(&new_slot));

    // Cancelling with the stale slot is refused; with the current one it works.
    let (status, stale) = app
        .voicebot(
            &key,
            &json!({"action": "cancelAppointment", "bookingId": booking_id,
                    "slotId": chosen["avId"], "start": chosen["slotStart"]}),
        )
        .await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["code"], "booking_moved");
    let (status, cancelled) = app
        .voicebot(
            &key,
            &json!({"action": "cancelAppointment", "bookingId": booking_id,
                    "slotId": new_slot["avId"], "start": new_slot["slotStart"]}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (kind, _) = observer.next(Duration::from_secs(10)).await;
    assert_eq!(kind, v1::AppointmentCancelled::TYPE);

    let (_, bookings) = app
        .voicebot(
            &key,
            &json!({"action": "findExistingBooking", "id": user_id}),
        )
        .await;
    assert_eq!(
        bookings,
        json!([]),
        "only future, active bookings are listed"
    );
    app.stop().await;
}

#[tokio::test]
async fn any_agent_offers_each_time_once_and_books_whoever_is_free() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let day = date_in(5, BERLIN);
    let query = json!({"action": "getSlots", "appointmentTypeId": catalog.massage, "agentId": null,
                       "productId": catalog.massage_45, "dateTime": day, "timezone": "Europe/Berlin"});
    let (status, slots) = app.voicebot(&key, &query).await;
    assert_eq!(status, 200, "{slots}");
    let slots = slots.as_array().unwrap().clone();
    // 08:00-12:00 in 45-minute steps: 08:00, 08:45, 09:30, 10:15, 11:00 (11:45 would overrun).
    assert_eq!(slots.len(), 5);
    let slot = &slots[0];

    let mut agents = Vec::new();
    for attempt in 0..3 {
        let (status, body) = app
            .voicebot(
                &key,
                &json!({"action": "bookAppointment", "productId": catalog.massage_45,
                        "slotId": slot["avId"], "start": slot["slotStart"],
                        "booker": {"firstname": "Kim", "lastname": format!("Caller{attempt}"),
                                   "phone": "+12015550101"}}),
            )
            .await;
        if attempt < 2 {
            assert_eq!(status, 200, "{body}");
            agents.push(body["agentId"].as_str().unwrap().to_owned());
        } else {
            assert_eq!(status, 409, "{body}");
            assert_eq!(body["code"], "slot_taken");
            assert_eq!(body["errors"][0]["field"], "slotId");
        }
    }
    agents.sort();
    let mut expected = vec![catalog.max.to_string(), catalog.hans.to_string()];
    expected.sort();
    assert_eq!(agents, expected, "each agent took one of the two bookings");

    let (_, after) = app.voicebot(&key, &query).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        4,
        "the time is gone once nobody is free"
    );
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_bookings_of_one_slot_make_exactly_one_appointment() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let (_, slots) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "appointmentTypeId": catalog.massage, "agentId": catalog.max,
                    "productId": catalog.massage_30, "dateTime": date_in(3, BERLIN)}),
        )
        .await;
    let slot = slots[2].clone();
    let requests = (0..50).map(|caller| {
        let app = &app;
        let key = &key;
        let body = json!({"action": "bookAppointment", "productId": catalog.massage_30,
                          "slotId": slot["avId"], "start": slot["slotStart"],
                          "booker": {"firstname": "Caller", "lastname": format!("Number{caller}"),
                                     "phone": "+12015550102", "email": format!("c{caller}@example.com")},
                          "participant": {"firstname": "Caller", "lastname": format!("Number{caller}"),
                                          "dob": "1990-01-01"}});
        async move { app.voicebot(key, &body).await }
    });
    let answers = futures_util::future::join_all(requests).await;
    let succeeded = answers.iter().filter(|(status, _)| *status == 200).count();
    let conflicts: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 409)
        .collect();
    assert_eq!(succeeded, 1, "{answers:?}");
    assert_eq!(conflicts.len(), 49, "{answers:?}");
    assert!(
        conflicts
            .iter()
            .all(|(_, body)| body["code"] == "slot_taken")
    );
    assert_eq!(appointment_count(&app).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_retried_booking_with_the_same_idempotency_key_gets_the_first_answer() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let (_, slots) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "appointmentTypeId": catalog.massage, "agentId": null,
                    "productId": catalog.massage_45, "dateTime": date_in(4, BERLIN)}),
        )
        .await;
    let book = |slot: &Value| {
        json!({"action": "bookAppointment", "productId": catalog.massage_45,
               "slotId": slot["avId"], "start": slot["slotStart"],
               "booker": {"firstname": "Ida", "lastname": "Retry", "phone": "+12015550103"}})
    };

    // Sequential retry: the same answer, marked replayed, and one booking.
    let first = app
        .voicebot_with_key(&key, "call-42-book", &book(&slots[0]))
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    assert!(!first.2);
    let retry = app
        .voicebot_with_key(&key, "call-42-book", &book(&slots[0]))
        .await;
    assert_eq!((retry.0, &retry.1), (200, &first.1));
    assert!(retry.2, "the retry is marked Idempotent-Replayed");
    assert_eq!(appointment_count(&app).await, 1);

    // The key reused for another request is refused.
    let (status, body, _) = app
        .voicebot_with_key(&key, "call-42-book", &book(&slots[1]))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "idempotency_key_reused");

    // Ten retries racing each other: one booking, one answer.
    let racing = (0..10).map(|_| {
        let app = &app;
        let key = &key;
        let body = book(&slots[2]);
        async move { app.voicebot_with_key(key, "call-43-book", &body).await }
    });
    let answers = futures_util::future::join_all(racing).await;
    let booking_ids: std::collections::HashSet<_> = answers
        .iter()
        .map(|(status, body, _)| {
            assert_eq!(*status, 200, "{body}");
            body["bookingId"].clone()
        })
        .collect();
    assert_eq!(booking_ids.len(), 1, "{answers:?}");
    assert_eq!(appointment_count(&app).await, 2);

    // Another tenant's identical key is its own.
    let (other_tenant, other_key) = app.create_tenant("Other").await;
    let other_catalog = seed_catalog(&app, other_tenant, CatalogSpec::default()).await;
    let (_, other_slots) = app
        .voicebot(
            &other_key,
            &json!({"action": "getSlots", "appointmentTypeId": other_catalog.massage,
                    "productId": other_catalog.massage_45, "dateTime": date_in(4, BERLIN)}),
        )
        .await;
    let body = json!({"action": "bookAppointment", "productId": other_catalog.massage_45,
                      "slotId": other_slots[0]["avId"],
                      "booker": {"firstname": "Ida", "lastname": "Retry", "phone": "+12015550103"}});
    let (status, other, replayed) = app
        .voicebot_with_key(&other_key, "call-42-book", &body)
        .await;
    assert_eq!(status, 200, "{other}");
    assert!(!replayed);
    app.stop().await;
}

#[tokio::test]
async fn slots_keep_local_time_across_daylight_saving_changes() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    // Berlin agents working 00:00-06:00, in 60-minute slots, across the 2027 changes.
    let berlin = seed_catalog(
        &app,
        tenant_id,
        CatalogSpec {
            time_zone: "Europe/Berlin",
            hours: (0, 6 * 60),
            slot_interval_minutes: Some(60),
            ..CatalogSpec::default()
        },
    )
    .await;
    let starts = |slots: &Value| -> Vec<String> {
        slots
            .as_array()
            .unwrap()
            .iter()
            .map(|slot| slot["slotStart"].as_str().unwrap()[11..].to_owned())
            .collect()
    };
    let slots_on = |catalog_product: Uuid, agent: Uuid, day: &str, zone: &str| {
        json!({"action": "getSlots", "productId": catalog_product, "agentId": agent,
               "dateTime": day, "timezone": zone})
    };

    let (status, spring) = app
        .voicebot(
            &key,
            &slots_on(berlin.massage_30, berlin.max, "2027-03-28", "Europe/Berlin"),
        )
        .await;
    assert_eq!(status, 200, "{spring}");
    assert_eq!(
        starts(&spring),
        [
            "00:00:00.000+01:00",
            "01:00:00.000+01:00",
            "03:00:00.000+02:00",
            "04:00:00.000+02:00",
            "05:00:00.000+02:00"
        ]
    );
    assert_eq!(spring[1]["slotEnd"], "2027-03-28T01:30:00.000+01:00");
    let (_, autumn) = app
        .voicebot(
            &key,
            &slots_on(berlin.massage_30, berlin.max, "2027-10-31", "Europe/Berlin"),
        )
        .await;
    assert_eq!(
        starts(&autumn),
        [
            "00:00:00.000+02:00",
            "01:00:00.000+02:00",
            "02:00:00.000+02:00",
            "02:00:00.000+01:00",
            "03:00:00.000+01:00",
            "04:00:00.000+01:00",
            "05:00:00.000+01:00"
        ]
    );
    // The doubled hour's second 02:00 books like any other slot, and stays distinct.
    let (status, booked) = app
        .voicebot(
            &key,
            &json!({"action": "bookAppointment", "productId": berlin.massage_30,
                    "slotId": autumn[3]["avId"], "start": "2027-10-31T02:00:00.000+01:00",
                    "booker": {"firstname": "Night", "lastname": "Owl", "phone": "+12015550104",
                               "email": "owl@example.com"},
                    "participant": {"firstname": "Night", "lastname": "Owl", "dob": "1970-01-01"}}),
        )
        .await;
    assert_eq!(status, 200, "{booked}");
    assert_eq!(booked["start"], "2027-10-31T02:00:00.000+01:00");
    let (_, autumn_after) = app
        .voicebot(
            &key,
            &slots_on(berlin.massage_30, berlin.max, "2027-10-31", "Europe/Berlin"),
        )
        .await;
    assert!(starts(&autumn_after).contains(&"02:00:00.000+02:00".to_owned()));
    assert!(!starts(&autumn_after).contains(&"02:00:00.000+01:00".to_owned()));

    // New York, business hours 09:00-11:00, on both of its 2027 change days.
    let new_york = seed_catalog(
        &app,
        tenant_id,
        CatalogSpec {
            time_zone: "America/New_York",
            hours: (9 * 60, 11 * 60),
            slot_interval_minutes: Some(60),
            ..CatalogSpec::default()
        },
    )
    .await;
    let (_, march) = app
        .voicebot(
            &key,
            &slots_on(
                new_york.massage_30,
                new_york.hans,
                "2027-03-14",
                "America/New_York",
            ),
        )
        .await;
    assert_eq!(starts(&march), ["09:00:00.000-04:00", "10:00:00.000-04:00"]);
    let (_, november) = app
        .voicebot(
            &key,
            &slots_on(
                new_york.massage_30,
                new_york.hans,
                "2027-11-07",
                "America/New_York",
            ),
        )
        .await;
    assert_eq!(
        starts(&november),
        ["09:00:00.000-05:00", "10:00:00.000-05:00"]
    );

    // Shown in the caller's zone: New York's 09:00 on 2027-03-14 is 14:00 in Berlin (+01:00).
    let (_, shown_in_berlin) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "productId": new_york.massage_30, "agentId": new_york.hans,
                    "dateTime": "2027-03-14T00:00:00-04:00", "timezone": "Europe/Berlin"}),
        )
        .await;
    assert_eq!(
        shown_in_berlin[0]["slotStart"],
        "2027-03-14T14:00:00.000+01:00"
    );
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_a_4xx_naming_the_field() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let (_, other_key) = app.create_tenant("Other").await;

    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"action": "orderPizza"}), 422, "action"),
        (json!({"sipId": "x"}), 422, "action"),
        (json!({"action": "getEntityForSipId"}), 422, "sipId"),
        (
            json!({"action": "getEntityForSipId", "sipId": "unknown"}),
            404,
            "sipId",
        ),
        (
            json!({"action": "getBusinessName", "entityId": "xyzBusinessEntityId"}),
            404,
            "entityId",
        ),
        (
            json!({"action": "getAgents", "entityId": catalog.entity_id, "appointmentTypeId": Uuid::now_v7()}),
            404,
            "appointmentTypeId",
        ),
        (
            json!({"action": "getSlots", "productId": catalog.massage_30, "dateTime": "next tuesday"}),
            422,
            "dateTime",
        ),
        (
            json!({"action": "getSlots", "productId": catalog.massage_30, "dateTime": "2030-01-01", "timezone": "Mars/Olympus"}),
            422,
            "timezone",
        ),
        (
            json!({"action": "getSlots", "productId": catalog.gymnastics_60, "agentId": catalog.max, "dateTime": "2030-01-01"}),
            422,
            "agentId",
        ),
        (
            json!({"action": "getSlots", "productId": catalog.massage_30, "appointmentTypeId": catalog.gymnastics, "dateTime": "2030-01-01"}),
            422,
            "productId",
        ),
        (
            json!({"action": "getRequiredInfo", "productId": 42}),
            422,
            "productId",
        ),
        (
            json!({"action": "bookAppointment", "productId": catalog.massage_45, "slotId": "abcAvId1",
                "booker": {"firstname": "A", "lastname": "B", "phone": "12"}}),
            422,
            "slotId",
        ),
        (
            json!({"action": "bookAppointment", "productId": catalog.massage_45, "slotId": "abcAvId1",
                "booker": {"firstname": "A", "lastname": "B", "phone": "12"}}),
            422,
            "booker.phone",
        ),
        (
            json!({"action": "modifyAppointment", "bookingId": Uuid::now_v7(), "slotIdNew": "nope"}),
            422,
            "slotIdNew",
        ),
        (
            json!({"action": "cancelAppointment", "bookingId": Uuid::now_v7()}),
            404,
            "bookingId",
        ),
        (
            json!({"action": "findExistingUser", "participant": {"firstname": "Max"}}),
            422,
            "participant.lastname",
        ),
        (
            json!({"action": "findExistingUser", "participant": {"lastname": "Max", "dob": "25.07.1985"}}),
            422,
            "participant.dob",
        ),
        (
            json!({"action": "findExistingBooking", "id": Uuid::now_v7()}),
            404,
            "id",
        ),
    ];
    for (body, status, field) in cases {
        let (got, answer) = app.voicebot(&key, &body).await;
        assert_eq!(got, status, "{body} answered {answer}");
        let fields: Vec<&str> = answer["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{body} answered {answer}"))
            .iter()
            .map(|issue| issue["field"].as_str().unwrap())
            .collect();
        assert!(fields.contains(&field), "{body} answered {answer}");
    }

    // Booking without what the product requires names each missing field.
    let (_, slots) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "productId": catalog.massage_30, "dateTime": date_in(6, BERLIN)}),
        )
        .await;
    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "bookAppointment", "productId": catalog.massage_30,
                    "slotId": slots[0]["avId"], "booker": {"firstname": "Max", "lastname": "M"},
                    "participant": {"firstname": "Max"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "booker.phone",
            "booker.email",
            "participant.lastname",
            "participant.dob"
        ]
    );

    // A start that is not the slot's is refused rather than booked at either time.
    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "bookAppointment", "productId": catalog.massage_45,
                    "slotId": slots[0]["avId"], "start": "2030-01-01T08:00:00.000+01:00",
                    "booker": {"firstname": "A", "lastname": "B", "phone": "+12015550105"}}),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0]["field"].as_str()),
        (422, Some("start"))
    );

    // Not JSON, no key, another tenant's key.
    let response = app
        .client
        .post(format!("{}/voicebot/webhook", app.address))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let unauthenticated = app
        .client
        .post(format!("{}/voicebot/webhook", app.address))
        .json(&json!({"action": "getEntityForSipId", "sipId": catalog.sip_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let (status, _) = app
        .voicebot(
            &other_key,
            &json!({"action": "getEntityForSipId", "sipId": catalog.sip_id}),
        )
        .await;
    assert_eq!(
        status, 404,
        "another tenant never sees this tenant's entity"
    );
    let (status, _) = app
        .voicebot(
            &other_key,
            &json!({"action": "getRequiredInfo", "productId": catalog.massage_30}),
        )
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_slot_closed_after_it_was_offered_is_refused_not_booked() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let day = date_in(9, BERLIN);
    let (_, slots) = app
        .voicebot(
            &key,
            &json!({"action": "getSlots", "agentId": catalog.max,
                    "productId": catalog.massage_30, "dateTime": day}),
        )
        .await;
    // Max calls in sick after the bot read the slots (the slot search has cached his
    // schedule): the closing goes through the API, which invalidates this process's cache,
    // so the booking sees it at once.
    let response = app
        .client
        .post(format!(
            "{}/v1/agents/{}/exceptions",
            app.address, catalog.max
        ))
        .bearer_auth(&key)
        .json(&json!({ "date": day, "kind": "closed", "note": "sick" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let (status, body) = app
        .voicebot(
            &key,
            &json!({"action": "bookAppointment", "productId": catalog.massage_30,
                    "slotId": slots[0]["avId"],
                    "booker": {"firstname": "A", "lastname": "B", "phone": "+12015550110",
                               "email": "a@example.com", "dob": "1990-01-01"}}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "slot_unavailable");
    assert_eq!(appointment_count(&app).await, 0);
    app.stop().await;
}
