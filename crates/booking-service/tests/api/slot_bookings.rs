//! The native booking API: slots, bookings, moves and cancels, and Idempotency-Key on every
//! write.

use serde_json::{Value, json};

use crate::helpers::{TestApp, appointment_body};
use crate::seed::{CatalogSpec, date_in, seed_catalog};

impl TestApp {
    async fn send_request(
        &self,
        request: reqwest::RequestBuilder,
        api_key: &str,
        idempotency_key: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = request.bearer_auth(api_key);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }
}

#[tokio::test]
async fn slots_are_listed_booked_moved_and_cancelled_natively() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let day = date_in(8, chrono_tz::Europe::Berlin);
    let url = |path: &str| format!("{}{path}", app.address);

    let (status, slots, _) = app
        .send_request(
            app.client.get(url(&format!(
                "/v1/slots?product_id={}&date={day}&time_zone=America/New_York",
                catalog.massage_30
            ))),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{slots}");
    assert_eq!(slots["time_zone"], "America/New_York");
    let items = slots["items"].as_array().unwrap();
    assert_eq!(items.len(), 8);
    // 08:00 in Berlin is 02:00 in New York (six hours behind), whatever the season.
    assert!(
        items[0]["start"]
            .as_str()
            .unwrap()
            .contains("T02:00:00.000-0"),
        "{slots}"
    );
    assert_eq!(items[0]["agent_id"], Value::Null);

    let booking = json!({
        "product_id": catalog.massage_30,
        "slot_id": items[0]["slot_id"],
        "booker": {"first_name": "Grace", "last_name": "Hopper", "phone": "+12015550107",
                   "email": "grace@example.com"},
        "participant": {"first_name": "Ada", "last_name": "Hopper", "date_of_birth": "2015-05-01"}
    });
    let (status, booked, headers) = app
        .send_request(
            app.client.post(url("/v1/bookings")).json(&booking),
            &key,
            Some("b-1"),
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    let id = booked["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("/v1/appointments/{id}").as_str()
    );
    assert_eq!(booked["product_id"], json!(catalog.massage_30));
    assert_eq!(booked["customer"]["name"], "Ada Hopper");
    assert_eq!(
        booked["customer"]["phone"], "+12015550107",
        "a participant without a phone is reached on the booker's"
    );
    assert_ne!(booked["booker_id"], Value::Null);
    assert_eq!(booked["reminders"].as_array().unwrap().len(), 1);

    let (status, replayed, headers) = app
        .send_request(
            app.client.post(url("/v1/bookings")).json(&booking),
            &key,
            Some("b-1"),
        )
        .await;
    assert_eq!((status, &replayed), (201, &booked));
    assert_eq!(headers["idempotent-replayed"], "true");

    let (status, moved, _) = app
        .send_request(
            app.client
                .post(url(&format!("/v1/appointments/{id}/move")))
                .json(&json!({"slot_id": items[3]["slot_id"]})),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_ne!(moved["start"], booked["start"]);
    assert_eq!(moved["status"], "scheduled");
    let reminders = moved["reminders"].as_array().unwrap();
    assert_eq!(
        reminders
            .iter()
            .filter(|r| r["state"] == "scheduled")
            .count(),
        1,
        "one live reminder, for the new time: {moved}"
    );
    assert_eq!(
        reminders
            .iter()
            .filter(|r| r["state"] == "cancelled")
            .count(),
        1
    );

    // Moving onto a taken slot is a conflict and leaves the booking where it was.
    let (status, _, _) = app
        .send_request(
            app.client.post(url("/v1/bookings")).json(&json!({
            "product_id": catalog.massage_30, "slot_id": items[5]["slot_id"],
            "booker": {"first_name": "Bo", "last_name": "Busy", "phone": "+12015550108",
                       "email": "bo@example.com", "date_of_birth": "1980-01-01"}})),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 201);
    let (status, again, _) = app
        .send_request(
            app.client.post(url("/v1/bookings")).json(&json!({
            "product_id": catalog.massage_30, "slot_id": items[5]["slot_id"],
            "booker": {"first_name": "Cy", "last_name": "Busy", "phone": "+12015550108",
                       "email": "cy@example.com", "date_of_birth": "1980-01-01"}})),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 201, "two agents serve massages: {again}");
    let (status, conflict, _) = app
        .send_request(
            app.client
                .post(url(&format!("/v1/appointments/{id}/move")))
                .json(&json!({"slot_id": items[5]["slot_id"]})),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["code"], "slot_taken");
    let (_, unchanged, _) = app
        .send_request(
            app.client.get(url(&format!("/v1/appointments/{id}"))),
            &key,
            None,
        )
        .await;
    assert_eq!(unchanged["start"], moved["start"]);

    let (status, cancelled, _) = app
        .send_request(
            app.client
                .post(url(&format!("/v1/appointments/{id}/cancel"))),
            &key,
            Some("c-1"),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");

    let (status, problem, _) = app
        .send_request(app.client.get(url("/v1/slots?date=tomorrow")), &key, None)
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["product_id", "date"]);
    app.stop().await;
}

#[tokio::test]
async fn a_crm_booking_retried_with_its_idempotency_key_is_booked_once() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let body = appointment_body("+12015550109", "PT30M");
    let url = format!("{}/v1/appointments", app.address);
    let (status, first, _) = app
        .send_request(app.client.post(&url).json(&body), &key, Some("crm-7"))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, second, headers) = app
        .send_request(app.client.post(&url).json(&body), &key, Some("crm-7"))
        .await;
    assert_eq!((status, &second), (201, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(
        headers["location"],
        format!("/v1/appointments/{}", first["id"].as_str().unwrap()).as_str()
    );
    let (status, other, _) = app
        .send_request(app.client.post(&url).json(&body), &key, None)
        .await;
    assert_eq!(status, 201);
    assert_ne!(
        other["id"], first["id"],
        "without a key every request books"
    );
    let (status, problem, _) = app
        .send_request(app.client.post(&url).json(&body), &key, Some(""))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "Idempotency-Key");
    app.stop().await;
}

/// Books `slot_id` of `product_id` for `booker`; returns the answer's customer id.
async fn book_for(
    app: &TestApp,
    key: &str,
    product_id: &str,
    slot_id: &Value,
    booker: Value,
) -> String {
    let (status, booked, _) = app
        .send_request(
            app.client
                .post(format!("{}/v1/bookings", app.address))
                .json(&json!({"product_id": product_id, "slot_id": slot_id, "booker": booker})),
            key,
            None,
        )
        .await;
    assert_eq!(status, 201, "{booked}");
    booked["customer"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_returning_customer_is_recognised_by_names_and_a_confirming_detail_and_filled_in() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let product = catalog.gymnastics_60.to_string();
    // Hans alone gives gymnastics, four hours a day: four slots a day, each booked once.
    let mut items = Vec::new();
    for days_ahead in [8, 9] {
        let day = date_in(days_ahead, chrono_tz::Europe::Berlin);
        let (status, slots) = app
            .get_json(&key, &format!("/v1/slots?product_id={product}&date={day}"))
            .await;
        assert_eq!(status, 200, "{slots}");
        items.extend(slots["items"].as_array().unwrap().iter().cloned());
    }
    assert_eq!(items.len(), 8);
    let slot = |booking: usize| &items[booking]["slot_id"];

    let grace = book_for(
        &app,
        &key,
        &product,
        slot(0),
        json!({"first_name": "Grace", "last_name": "Hopper", "phone": "+12015550107"}),
    )
    .await;
    let same_phone = book_for(
        &app,
        &key,
        &product,
        slot(1),
        json!({"first_name": "GRACE", "last_name": "hopper", "phone": "+1 201 555 0107",
               "email": "grace@example.com"}),
    )
    .await;
    assert_eq!(
        same_phone, grace,
        "same names and phone are the same customer"
    );
    let (_, stored) = app.get_json(&key, &format!("/v1/customers/{grace}")).await;
    assert_eq!(stored["email"], "grace@example.com", "{stored}");
    assert_eq!(stored["phone"], "+12015550107", "{stored}");
    assert_eq!(stored["first_name"], "Grace", "the stored names stay");

    // A date of birth confirms on its own: the phone is not compared then.
    let born = book_for(
        &app,
        &key,
        &product,
        slot(2),
        json!({"first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1906-12-09",
               "phone": "+12015550999"}),
    )
    .await;
    assert_ne!(
        born, grace,
        "the first Grace has no date of birth to confirm her"
    );
    let born_again = book_for(
        &app,
        &key,
        &product,
        slot(3),
        json!({"first_name": "Grace", "last_name": "Hopper", "date_of_birth": "1906-12-09",
               "city": "Arlington"}),
    )
    .await;
    assert_eq!(born_again, born);
    let (_, stored) = app.get_json(&key, &format!("/v1/customers/{born}")).await;
    assert_eq!(stored["city"], "Arlington", "{stored}");
    assert_eq!(
        stored["phone"], "+12015550999",
        "what was not mentioned is kept"
    );

    let names_only = book_for(
        &app,
        &key,
        &product,
        slot(4),
        json!({"first_name": "Grace", "last_name": "Hopper"}),
    )
    .await;
    assert!(
        names_only != grace && names_only != born,
        "names alone never merge two people"
    );

    let by_id = book_for(
        &app,
        &key,
        &product,
        slot(5),
        json!({"id": grace, "first_name": "Grace", "last_name": "Hopper", "zip": "10001",
               "email": "grace@navy.mil"}),
    )
    .await;
    assert_eq!(by_id, grace);
    let (_, stored) = app.get_json(&key, &format!("/v1/customers/{grace}")).await;
    assert_eq!(stored["zip"], "10001", "{stored}");
    assert_eq!(
        stored["email"], "grace@navy.mil",
        "what was told anew replaces what was"
    );
    assert_eq!(stored["phone"], "+12015550107");

    // Another tenant cannot reach the first tenant's customer, by id or by details.
    let (other_tenant, other_key) = app.create_tenant("Salon").await;
    let other_catalog = seed_catalog(&app, other_tenant, CatalogSpec::default()).await;
    let other_product = other_catalog.gymnastics_60.to_string();
    let day = date_in(8, chrono_tz::Europe::Berlin);
    let (_, other_slots) = app
        .get_json(
            &other_key,
            &format!("/v1/slots?product_id={other_product}&date={day}"),
        )
        .await;
    let elsewhere = book_for(
        &app,
        &other_key,
        &other_product,
        &other_slots["items"][0]["slot_id"],
        json!({"id": grace, "first_name": "Grace", "last_name": "Hopper",
               "phone": "+12015550107"}),
    )
    .await;
    assert_ne!(elsewhere, grace);
    let (status, _) = app
        .get_json(&key, &format!("/v1/customers/{elsewhere}"))
        .await;
    assert_eq!(status, 404);
}

/// diesel-async issues a statement it has not yet prepared on a connection only after the
/// prepare has answered, so of a booking's pipelined inserts a cached reminder insert can
/// execute before an unprepared appointment insert. Here the only connection of a freshly
/// started service prepares the one-reminder insert for a move first; the next booking must
/// still be written whole (the reminder's reference to its appointment is checked at
/// commit).
#[tokio::test]
async fn a_booking_after_a_move_on_a_fresh_connection_writes_its_reminder_after_its_appointment() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Praxis").await;
    let catalog = seed_catalog(&app, tenant_id, CatalogSpec::default()).await;
    let day = date_in(8, chrono_tz::Europe::Berlin);
    let slots_url = format!(
        "{}/v1/slots?product_id={}&date={day}",
        app.address, catalog.massage_30
    );
    let (status, slots, _) = app
        .send_request(app.client.get(&slots_url), &key, None)
        .await;
    assert_eq!(status, 200, "{slots}");
    let slot = |index: usize| slots["items"][index]["slot_id"].clone();
    let booking = |slot_id: Value, last_name: &str| {
        json!({
            "product_id": catalog.massage_30,
            "slot_id": slot_id,
            "booker": {"first_name": "Grace", "last_name": last_name, "phone": "+12015550107",
                       "email": "grace@example.com", "date_of_birth": "1906-12-09"}
        })
    };
    let (status, first, _) = app
        .send_request(
            app.client
                .post(format!("{}/v1/bookings", app.address))
                .json(&booking(slot(0), "Hopper")),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 201, "{first}");

    let env = app.stop_keeping_database().await;
    let app = TestApp::spawn_in(env, &[("DB_POOL_SIZE", "1")]).await;
    let (status, moved, _) = app
        .send_request(
            app.client
                .post(format!(
                    "{}/v1/appointments/{}/move",
                    app.address,
                    first["id"].as_str().unwrap()
                ))
                .json(&json!({"slot_id": slot(3)})),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{moved}");
    let (status, second, _) = app
        .send_request(
            app.client
                .post(format!("{}/v1/bookings", app.address))
                .json(&booking(slot(5), "Lovelace")),
            &key,
            None,
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        second["reminders"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    app.stop().await;
}

/// A booking's inserts may run in either order because the reminders' reference to their
/// appointment is checked at commit; it is still checked.
#[tokio::test]
async fn a_reminder_without_its_appointment_is_refused_at_commit() {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

    let app = TestApp::spawn().await;
    let mut connection = app.env.connect("booking").await.unwrap();
    let missing_appointment = uuid::Uuid::new_v4();
    let error = connection
        .batch_execute(&format!(
            "BEGIN; \
             INSERT INTO appointment_reminders (id, appointment_id, tenant_id, channel, due_at) \
             VALUES (gen_random_uuid(), '{missing_appointment}', gen_random_uuid(), 'sms', now()); \
             COMMIT;"
        ))
        .await
        .expect_err("a reminder of no appointment was committed");
    assert!(
        error
            .to_string()
            .contains("appointment_reminders_appointment_id_fkey"),
        "{error}"
    );

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        count: i64,
    }
    let kept: Count = diesel::sql_query(format!(
        "SELECT count(*) AS count FROM appointment_reminders \
         WHERE appointment_id = '{missing_appointment}'"
    ))
    .get_result(&mut connection)
    .await
    .unwrap();
    assert_eq!(kept.count, 0);
    app.stop().await;
}
