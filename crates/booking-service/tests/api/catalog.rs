//! The catalog API: entities, appointment types, products, agents with hours and
//! exceptions, customers.

use diesel_async::SimpleAsyncConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, problem_fields};

fn entity_body(name: &str) -> Value {
    json!({ "name": name, "time_zone": "Europe/Berlin" })
}

fn id_of(body: &Value) -> String {
    body["id"].as_str().unwrap().to_owned()
}

/// Creates an entity and returns its id.
async fn create_entity(app: &TestApp, key: &str, body: &Value) -> String {
    let (status, created) = app.post_json(key, "/v1/entities", body).await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

/// Creates an appointment type of `entity_id` and returns its id.
async fn create_type(app: &TestApp, key: &str, entity_id: &str, name: &str) -> String {
    let (status, created) = app
        .post_json(
            key,
            "/v1/appointment-types",
            &json!({ "entity_id": entity_id, "name": name }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

/// Creates a 30-minute product of `type_id` and returns its id.
async fn create_product(app: &TestApp, key: &str, type_id: &str) -> String {
    let (status, created) = app
        .post_json(
            key,
            "/v1/products",
            &json!({ "appointment_type_id": type_id, "name": "Check-up", "duration_minutes": 30 }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

fn agent_body(entity_id: &str, type_ids: &[&str]) -> Value {
    json!({
        "entity_id": entity_id,
        "gender": "female",
        "first_name": "Grace",
        "last_name": "Hopper",
        "appointment_type_ids": type_ids,
        "working_hours": [
            { "weekday": 1, "start": "09:00", "end": "12:00" },
            { "weekday": 1, "start": "13:00", "end": "17:30" },
            { "weekday": 5, "start": "20:00", "end": "24:00" }
        ]
    })
}

/// Creates an agent of `entity_id` serving `type_ids` and returns their id.
async fn create_agent(app: &TestApp, key: &str, entity_id: &str, type_ids: &[&str]) -> String {
    let (status, created) = app
        .post_json(key, "/v1/agents", &agent_body(entity_id, type_ids))
        .await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

/// Creates a customer and returns their id.
async fn create_customer(app: &TestApp, key: &str, first_name: &str, last_name: &str) -> String {
    let (status, created) = app
        .post_json(
            key,
            "/v1/customers",
            &json!({ "first_name": first_name, "last_name": last_name }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

#[tokio::test]
async fn entities_round_trip_with_sip_ids_and_reminders() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;

    let response = app
        .client
        .post(format!("{}/v1/entities", app.address))
        .bearer_auth(&key)
        .json(&json!({
            "name": "Main Street Clinic",
            "time_zone": "Europe/Zurich",
            "locale": "de-CH",
            "currency": "CHF",
            "slot_interval_minutes": 15,
            "sip_ids": ["sip:front@clinic.example", "+41445550101"],
            "reminders": [
                { "channel": "voice", "offset": "P1D" },
                { "channel": "sms", "offset": "PT2H" }
            ]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = id_of(&created);
    assert_eq!(location, format!("/v1/entities/{id}"));
    assert_eq!(created["name"], "Main Street Clinic");
    assert_eq!(created["time_zone"], "Europe/Zurich");
    assert_eq!(created["locale"], "de-CH");
    assert_eq!(created["currency"], "CHF");
    assert_eq!(created["slot_interval_minutes"], 15);
    assert_eq!(
        created["sip_ids"],
        json!(["+41445550101", "sip:front@clinic.example"])
    );
    assert_eq!(
        created["reminders"],
        json!([
            { "channel": "voice", "offset": "PT1440M", "offset_minutes": 1440 },
            { "channel": "sms", "offset": "PT120M", "offset_minutes": 120 }
        ])
    );
    assert!(created["created_at"].is_string());

    let (status, fetched) = app.get_json(&key, &location).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);

    let (status, replaced) = app
        .put_json(
            &key,
            &location,
            &json!({
                "name": "Main Street Clinic (new)",
                "time_zone": "Europe/Berlin",
                "sip_ids": ["sip:desk@clinic.example"],
                "reminders": []
            }),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["id"], created["id"]);
    assert_eq!(replaced["name"], "Main Street Clinic (new)");
    assert_eq!(
        replaced["locale"], "en",
        "PUT replaces: absent means default"
    );
    assert_eq!(replaced["currency"], "EUR");
    assert_eq!(replaced["slot_interval_minutes"], Value::Null);
    assert_eq!(replaced["sip_ids"], json!(["sip:desk@clinic.example"]));
    assert_eq!(replaced["reminders"], json!([]));
    assert_eq!(app.get_json(&key, &location).await.1, replaced);

    let (status, list) = app.get_json(&key, "/v1/entities").await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([replaced]));
    assert_eq!(list["next_cursor"], Value::Null);

    // The replaced SIP id is free again at once.
    create_entity(
        &app,
        &key,
        &json!({ "name": "Other", "time_zone": "UTC", "sip_ids": ["+41445550101"] }),
    )
    .await;

    assert_eq!(app.delete(&key, &location).await.0, 204);
    assert_eq!(app.get_json(&key, &location).await.0, 404);
    assert_eq!(app.delete(&key, &location).await.0, 404);
    assert_eq!(
        app.put_json(&key, &location, &entity_body("Back")).await.0,
        404
    );
    // Deleting freed its SIP ids.
    create_entity(
        &app,
        &key,
        &json!({ "name": "Desk", "time_zone": "UTC", "sip_ids": ["sip:desk@clinic.example"] }),
    )
    .await;
    let (_, list) = app.get_json(&key, "/v1/entities").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn an_entity_gets_defaults() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let (status, created) = app
        .post_json(&key, "/v1/entities", &entity_body("Clinic"))
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["locale"], "en");
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["slot_interval_minutes"], Value::Null);
    assert_eq!(created["sip_ids"], json!([]));
    assert_eq!(
        created["reminders"],
        json!([{ "channel": "voice", "offset": "PT1440M", "offset_minutes": 1440 }])
    );
    app.stop().await;
}

#[tokio::test]
async fn invalid_entities_name_every_failing_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let (status, problem) = app
        .post_json(
            &key,
            "/v1/entities",
            &json!({
                "name": "",
                "time_zone": "Mars/Olympus",
                "locale": "not a locale",
                "currency": "euro",
                "slot_interval_minutes": 2,
                "sip_ids": ["ok", "", "ok"],
                "reminders": [
                    { "channel": "fax", "offset": "PT1H" },
                    { "channel": "voice", "offset": "soon" }
                ]
            }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem["code"], "validation_failed");
    assert_eq!(
        problem_fields(&problem),
        [
            "name",
            "time_zone",
            "locale",
            "currency",
            "slot_interval_minutes",
            "sip_ids[1]",
            "sip_ids[2]",
            "reminders[0].channel",
            "reminders[1].offset"
        ]
    );
    assert_eq!(problem["errors"][7]["message"], "must be voice or sms");

    let mut too_many = entity_body("Clinic");
    too_many["reminders"] = json!(
        (1..=11)
            .map(|hours| json!({ "channel": "voice", "offset": format!("PT{hours}H") }))
            .collect::<Vec<_>>()
    );
    let (status, problem) = app.post_json(&key, "/v1/entities", &too_many).await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["reminders"]);

    let mut unknown = entity_body("Clinic");
    unknown["colour"] = json!("blue");
    let (status, problem) = app.post_json(&key, "/v1/entities", &unknown).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem_fields(&problem), ["colour"], "{problem}");

    let mut wrong_type = entity_body("Clinic");
    wrong_type["sip_ids"] = json!(["a", 7]);
    let (status, problem) = app.post_json(&key, "/v1/entities", &wrong_type).await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["sip_ids[1]"]);
    app.stop().await;
}

#[tokio::test]
async fn a_sip_id_routes_to_one_entity_of_a_tenant() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let (_, other_key) = app.create_tenant("Other").await;
    let first = create_entity(
        &app,
        &key,
        &json!({ "name": "First", "time_zone": "UTC", "sip_ids": ["sip:front@clinic"] }),
    )
    .await;

    let (status, problem) = app
        .post_json(
            &key,
            "/v1/entities",
            &json!({ "name": "Second", "time_zone": "UTC", "sip_ids": ["sip:back@clinic", "sip:front@clinic"] }),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "sip_id_taken");
    assert_eq!(problem_fields(&problem), ["sip_ids[1]"]);
    let (_, list) = app.get_json(&key, "/v1/entities").await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing of the refused entity is stored"
    );

    // Keeping its own SIP id on PUT is no conflict.
    let (status, _) = app
        .put_json(
            &key,
            &format!("/v1/entities/{first}"),
            &json!({ "name": "First", "time_zone": "UTC", "sip_ids": ["sip:front@clinic"] }),
        )
        .await;
    assert_eq!(status, 200);

    // Another tenant has its own SIP ids.
    create_entity(
        &app,
        &other_key,
        &json!({ "name": "Elsewhere", "time_zone": "UTC", "sip_ids": ["sip:front@clinic"] }),
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn appointment_types_round_trip() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;
    let other_entity = create_entity(&app, &key, &entity_body("Annex")).await;

    let response = app
        .client
        .post(format!("{}/v1/appointment-types", app.address))
        .bearer_auth(&key)
        .json(&json!({ "entity_id": entity, "name": " Dental ", "description": "Teeth" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = id_of(&created);
    assert_eq!(location, format!("/v1/appointment-types/{id}"));
    assert_eq!(created["entity_id"], entity.as_str());
    assert_eq!(created["name"], "Dental");
    assert_eq!(created["description"], "Teeth");
    assert_eq!(app.get_json(&key, &location).await.1, created);
    let annex_type = create_type(&app, &key, &other_entity, "X-ray").await;

    let (status, replaced) = app
        .put_json(
            &key,
            &location,
            &json!({ "entity_id": entity, "name": "Dentistry" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(replaced["name"], "Dentistry");
    assert_eq!(replaced["description"], "");

    let (status, problem) = app
        .put_json(
            &key,
            &location,
            &json!({ "entity_id": other_entity, "name": "" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["name", "entity_id"]);

    let (_, list) = app
        .get_json(&key, &format!("/v1/appointment-types?entity_id={entity}"))
        .await;
    assert_eq!(list["items"], json!([replaced]));
    let (_, all) = app.get_json(&key, "/v1/appointment-types").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (status, problem) = app
        .get_json(&key, "/v1/appointment-types?entity_id=nope")
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["entity_id"]);

    let (status, problem) = app
        .post_json(
            &key,
            "/v1/appointment-types",
            &json!({ "entity_id": Uuid::now_v7(), "name": "" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["name", "entity_id"]);

    // An entity with live types stays; its types go first.
    let (status, problem) = app
        .delete(&key, &format!("/v1/entities/{other_entity}"))
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "in_use");
    assert_eq!(
        app.delete(&key, &format!("/v1/appointment-types/{annex_type}"))
            .await
            .0,
        204
    );
    assert_eq!(
        app.delete(&key, &format!("/v1/entities/{other_entity}"))
            .await
            .0,
        204
    );
    // A deleted entity takes no new types.
    let (status, problem) = app
        .post_json(
            &key,
            "/v1/appointment-types",
            &json!({ "entity_id": other_entity, "name": "Late" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["entity_id"]);

    assert_eq!(app.delete(&key, &location).await.0, 204);
    assert_eq!(app.get_json(&key, &location).await.0, 404);
    app.stop().await;
}

#[tokio::test]
async fn products_round_trip_with_prices_and_info_lists() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(
        &app,
        &key,
        &json!({ "name": "Clinic", "time_zone": "Europe/Zurich", "currency": "CHF" }),
    )
    .await;
    let dental = create_type(&app, &key, &entity, "Dental").await;
    let xray = create_type(&app, &key, &entity, "X-ray").await;

    let response = app
        .client
        .post(format!("{}/v1/products", app.address))
        .bearer_auth(&key)
        .json(&json!({
            "appointment_type_id": dental,
            "name": "Cleaning",
            "duration_minutes": 45,
            "price": 45
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/products/{}", id_of(&created)));
    assert_eq!(created["appointment_type_id"], dental.as_str());
    assert_eq!(created["duration_minutes"], 45);
    assert_eq!(created["description"], "");
    assert!(created["price"].is_u64(), "a whole price is an integer");
    assert_eq!(created["price"], 45);
    assert_eq!(created["currency"], "CHF");
    assert_eq!(
        created["booker_info"],
        json!(["firstname", "lastname", "phone"])
    );
    assert_eq!(created["participant_info"], json!([]));
    assert_eq!(app.get_json(&key, &location).await.1, created);

    let (status, replaced) = app
        .put_json(
            &key,
            &location,
            &json!({
                "appointment_type_id": dental,
                "name": "Deep cleaning",
                "duration_minutes": 60,
                "description": "With polish",
                "price": 45.5,
                "booker_info": ["firstname", "lastname", "email"],
                "participant_info": ["firstname", "dob"]
            }),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["price"], 45.5);
    assert_eq!(replaced["duration_minutes"], 60);
    assert_eq!(
        replaced["booker_info"],
        json!(["firstname", "lastname", "email"])
    );
    assert_eq!(replaced["participant_info"], json!(["firstname", "dob"]));
    assert_eq!(app.get_json(&key, &location).await.1, replaced);

    let xray_product = create_product(&app, &key, &xray).await;
    let (_, list) = app
        .get_json(&key, &format!("/v1/products?appointment_type_id={xray}"))
        .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [xray_product.as_str()]);

    let (status, problem) = app
        .post_json(
            &key,
            "/v1/products",
            &json!({
                "appointment_type_id": Uuid::now_v7(),
                "name": "",
                "duration_minutes": 2000,
                "price": 1.234,
                "booker_info": ["firstname", "shoe_size", "firstname"],
                "participant_info": ["dob", "dob"]
            }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        problem_fields(&problem),
        [
            "name",
            "duration_minutes",
            "price",
            "booker_info[1]",
            "booker_info[2]",
            "participant_info[1]",
            "appointment_type_id"
        ]
    );
    let (status, problem) = app
        .post_json(
            &key,
            "/v1/products",
            &json!({ "appointment_type_id": dental, "name": "Free", "duration_minutes": 30, "price": -1 }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["price"]);
    let (status, problem) = app
        .put_json(
            &key,
            &location,
            &json!({ "appointment_type_id": xray, "name": "Moved", "duration_minutes": 30 }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["appointment_type_id"]);

    // A type with live products stays; its products go first.
    let (status, problem) = app
        .delete(&key, &format!("/v1/appointment-types/{dental}"))
        .await;
    assert_eq!(status, 409);
    assert_eq!(problem["code"], "in_use");
    assert_eq!(app.delete(&key, &location).await.0, 204);
    assert_eq!(app.get_json(&key, &location).await.0, 404);
    assert_eq!(
        app.delete(&key, &format!("/v1/appointment-types/{dental}"))
            .await
            .0,
        204
    );
    app.stop().await;
}

#[tokio::test]
async fn agents_round_trip_with_hours_and_exceptions() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;
    let dental = create_type(&app, &key, &entity, "Dental").await;
    let xray = create_type(&app, &key, &entity, "X-ray").await;

    let response = app
        .client
        .post(format!("{}/v1/agents", app.address))
        .bearer_auth(&key)
        .json(&agent_body(&entity, &[&dental]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = id_of(&created);
    assert_eq!(location, format!("/v1/agents/{id}"));
    assert_eq!(created["entity_id"], entity.as_str());
    assert_eq!(created["gender"], "female");
    assert_eq!(created["first_name"], "Grace");
    assert_eq!(created["appointment_type_ids"], json!([dental]));
    assert_eq!(
        created["working_hours"],
        json!([
            { "weekday": 1, "start": "09:00", "end": "12:00" },
            { "weekday": 1, "start": "13:00", "end": "17:30" },
            { "weekday": 5, "start": "20:00", "end": "24:00" }
        ])
    );
    assert_eq!(app.get_json(&key, &location).await.1, created);

    let mut changed = agent_body(&entity, &[&dental, &xray]);
    changed["gender"] = json!("unspecified");
    changed["working_hours"] = json!([{ "weekday": 7, "start": "00:00", "end": "08:15" }]);
    let (status, replaced) = app.put_json(&key, &location, &changed).await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["gender"], "unspecified");
    let mut expected_types = vec![dental.clone(), xray.clone()];
    expected_types.sort();
    assert_eq!(replaced["appointment_type_ids"], json!(expected_types));
    assert_eq!(
        replaced["working_hours"],
        json!([{ "weekday": 7, "start": "00:00", "end": "08:15" }])
    );
    assert_eq!(app.get_json(&key, &location).await.1, replaced);

    let other = create_agent(&app, &key, &entity, &[&dental]).await;
    let (_, serving_xray) = app
        .get_json(&key, &format!("/v1/agents?appointment_type_id={xray}"))
        .await;
    assert_eq!(serving_xray["items"], json!([replaced]));
    let (_, at_entity) = app
        .get_json(&key, &format!("/v1/agents?entity_id={entity}"))
        .await;
    assert_eq!(at_entity["items"].as_array().unwrap().len(), 2);
    assert_eq!(at_entity["items"][1]["id"], other.as_str());

    // Exceptions.
    let exceptions = format!("{location}/exceptions");
    let response = app
        .client
        .post(format!("{}{exceptions}", app.address))
        .bearer_auth(&key)
        .json(&json!({ "date": "2026-12-24", "kind": "closed", "note": "Christmas Eve" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let exception_location = response.headers()["location"].to_str().unwrap().to_owned();
    let closed: Value = response.json().await.unwrap();
    assert_eq!(
        exception_location,
        format!("{exceptions}/{}", id_of(&closed))
    );
    assert_eq!(closed["agent_id"], id.as_str());
    assert_eq!(closed["date"], "2026-12-24");
    assert_eq!(closed["kind"], "closed");
    assert_eq!(closed["start"], Value::Null);
    assert_eq!(closed["note"], "Christmas Eve");
    let (status, open) = app
        .post_json(
            &key,
            &exceptions,
            &json!({ "date": "2026-12-20", "kind": "open", "start": "10:00", "end": "14:00" }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(open["start"], "10:00");
    assert_eq!(open["end"], "14:00");
    assert_eq!(open["note"], "");
    let (_, late) = app
        .post_json(
            &key,
            &exceptions,
            &json!({ "date": "2027-01-05", "kind": "closed", "start": "12:00", "end": "24:00" }),
        )
        .await;
    assert_eq!(app.get_json(&key, &exception_location).await.1, closed);

    let (status, list) = app.get_json(&key, &exceptions).await;
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([open, closed, late]));
    let (_, december) = app
        .get_json(&key, &format!("{exceptions}?from=2026-12-21&to=2026-12-31"))
        .await;
    assert_eq!(december["items"], json!([closed]));
    let (status, problem) = app
        .get_json(&key, &format!("{exceptions}?from=2026-13-01&to=yesterday"))
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["from", "to"]);
    let (status, problem) = app
        .post_json(
            &key,
            &exceptions,
            &json!({ "date": "24.12.2026", "kind": "open", "start": "14:00", "end": "10:00" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["date", "end"]);
    let (status, problem) = app
        .post_json(
            &key,
            &exceptions,
            &json!({ "date": "2026-12-24", "kind": "open" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["start"]);

    assert_eq!(app.delete(&key, &exception_location).await.0, 204);
    assert_eq!(app.get_json(&key, &exception_location).await.0, 404);
    assert_eq!(app.delete(&key, &exception_location).await.0, 404);
    let (_, list) = app.get_json(&key, &exceptions).await;
    assert_eq!(list["items"], json!([open, late]));

    assert_eq!(app.delete(&key, &location).await.0, 204);
    assert_eq!(app.get_json(&key, &location).await.0, 404);
    assert_eq!(app.get_json(&key, &exceptions).await.0, 404);
    let (_, at_entity) = app
        .get_json(&key, &format!("/v1/agents?entity_id={entity}"))
        .await;
    assert_eq!(at_entity["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn an_agent_serves_only_types_of_their_entity() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;
    let annex = create_entity(&app, &key, &entity_body("Annex")).await;
    let dental = create_type(&app, &key, &entity, "Dental").await;
    let annex_type = create_type(&app, &key, &annex, "X-ray").await;

    let (status, problem) = app
        .post_json(
            &key,
            "/v1/agents",
            &agent_body(&entity, &[&dental, &annex_type]),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["appointment_type_ids[1]"]);

    let unknown = Uuid::now_v7().to_string();
    let (status, problem) = app
        .post_json(
            &key,
            "/v1/agents",
            &agent_body(&entity, &[&dental, &dental, &unknown]),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        problem_fields(&problem),
        ["appointment_type_ids[1]", "appointment_type_ids[2]"]
    );

    let agent = create_agent(&app, &key, &entity, &[&dental]).await;
    let (status, problem) = app
        .put_json(
            &key,
            &format!("/v1/agents/{agent}"),
            &agent_body(&annex, &[&annex_type]),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        problem_fields(&problem),
        ["entity_id", "appointment_type_ids[0]"]
    );

    // Deleting a type the agent serves drops it from the agent.
    assert_eq!(
        app.delete(&key, &format!("/v1/appointment-types/{dental}"))
            .await
            .0,
        204
    );
    let (_, fetched) = app.get_json(&key, &format!("/v1/agents/{agent}")).await;
    assert_eq!(fetched["appointment_type_ids"], json!([]));
    app.stop().await;
}

#[tokio::test]
async fn invalid_agents_name_every_failing_field() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;

    let mut body = agent_body(&entity, &[]);
    body["gender"] = json!("robot");
    body["first_name"] = json!("  ");
    body["working_hours"] = json!([
        { "weekday": 1, "start": "09:00", "end": "12:00" },
        { "weekday": 1, "start": "11:30", "end": "13:00" },
        { "weekday": 2, "start": "12:00", "end": "12:00" },
        { "weekday": 0, "start": "9:00", "end": "25:00" },
        { "weekday": 2, "start": "08:00", "end": "24:00" }
    ]);
    let (status, problem) = app.post_json(&key, "/v1/agents", &body).await;
    assert_eq!(status, 422);
    assert_eq!(
        problem_fields(&problem),
        [
            "gender",
            "first_name",
            "working_hours[1]",
            "working_hours[2].end",
            "working_hours[3].weekday",
            "working_hours[3].start",
            "working_hours[3].end"
        ]
    );

    let mut missing = agent_body(&entity, &[]);
    missing.as_object_mut().unwrap().remove("working_hours");
    let (status, problem) = app.post_json(&key, "/v1/agents", &missing).await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["working_hours"]);

    let mut wrong_type = agent_body(&entity, &[]);
    wrong_type["working_hours"][1]["weekday"] = json!("Monday");
    let (status, problem) = app.post_json(&key, "/v1/agents", &wrong_type).await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["working_hours[1].weekday"]);
    app.stop().await;
}

#[tokio::test]
async fn customers_round_trip_and_filter_by_phone_and_last_name() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;

    let response = app
        .client
        .post(format!("{}/v1/customers", app.address))
        .bearer_auth(&key)
        .json(&json!({
            "first_name": "José",
            "last_name": "Müller",
            "date_of_birth": "1984-02-29",
            "phone": "(201) 555-0123",
            "email": "jose@example.com",
            "street": "1 Main St",
            "zip": "07030",
            "city": "Hoboken",
            "country": "US",
            "locale": "es-US"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/v1/customers/{}", id_of(&created)));
    assert_eq!(created["first_name"], "José");
    assert_eq!(created["last_name"], "Müller");
    assert_eq!(created["date_of_birth"], "1984-02-29");
    assert_eq!(created["phone"], "+12015550123");
    assert_eq!(created["email"], "jose@example.com");
    assert_eq!(created["zip"], "07030");
    assert_eq!(created["locale"], "es-US");
    assert_eq!(app.get_json(&key, &location).await.1, created);

    let sibling = create_customer(&app, &key, "Ana", "Muller").await;
    create_customer(&app, &key, "Ada", "Lovelace").await;

    let (_, by_name) = app.get_json(&key, "/v1/customers?last_name=MULLER").await;
    let ids: Vec<&str> = by_name["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [created["id"].as_str().unwrap(), sibling.as_str()]);
    let (_, by_phone) = app
        .get_json(&key, "/v1/customers?phone=%2B1%20201%20555%200123")
        .await;
    assert_eq!(by_phone["items"], json!([created]));
    let (status, problem) = app
        .get_json(&key, "/v1/customers?phone=banana&limit=500")
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["phone", "limit"]);

    let (status, replaced) = app
        .put_json(
            &key,
            &location,
            &json!({ "first_name": "José", "last_name": "Müller-Lüdenscheidt", "phone": "+4930901820" }),
        )
        .await;
    assert_eq!(status, 200, "{replaced}");
    assert_eq!(replaced["last_name"], "Müller-Lüdenscheidt");
    assert_eq!(replaced["phone"], "+4930901820");
    assert_eq!(replaced["email"], Value::Null, "PUT clears absent details");
    assert_eq!(replaced["date_of_birth"], Value::Null);
    assert_eq!(replaced["locale"], "en");
    let (_, by_name) = app
        .get_json(&key, "/v1/customers?last_name=muller%20ludenscheidt")
        .await;
    assert_eq!(by_name["items"], json!([replaced]));

    let (status, problem) = app
        .post_json(
            &key,
            "/v1/customers",
            &json!({
                "first_name": "",
                "last_name": "X",
                "date_of_birth": "2999-01-01",
                "phone": "12",
                "email": "not-an-email",
                "city": "x".repeat(201),
                "locale": "?"
            }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        problem_fields(&problem),
        [
            "first_name",
            "date_of_birth",
            "phone",
            "email",
            "city",
            "locale"
        ]
    );

    assert_eq!(app.delete(&key, &location).await.0, 204);
    assert_eq!(app.get_json(&key, &location).await.0, 404);
    let (_, by_name) = app.get_json(&key, "/v1/customers?last_name=muller").await;
    assert_eq!(by_name["items"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn lists_page_with_an_opaque_cursor() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("Clinic").await;
    let (_, other_key) = app.create_tenant("Other").await;
    create_customer(&app, &other_key, "Not", "Mine").await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(create_customer(&app, &key, "Ada", &format!("Number{index}")).await);
    }

    let mut seen = Vec::new();
    let mut path = "/v1/customers?limit=2".to_owned();
    let mut pages = Vec::new();
    loop {
        let (status, page) = app.get_json(&key, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        pages.push(items.len());
        seen.extend(items.iter().map(id_of));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/customers?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(pages, [2, 2, 1]);
    assert_eq!(
        seen, ids,
        "pages hold every customer once, in creation order"
    );

    let (_, everything) = app.get_json(&key, "/v1/customers").await;
    assert_eq!(everything["items"].as_array().unwrap().len(), 5);
    assert_eq!(everything["next_cursor"], Value::Null);

    let (status, problem) = app
        .get_json(&key, "/v1/customers?limit=0&cursor=not*a*cursor")
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["limit", "cursor"]);
    let (status, problem) = app.get_json(&key, "/v1/entities?limit=abc").await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["limit"]);
    let (status, problem) = app.get_json(&key, "/v1/products?limit=201").await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["limit"]);
    let (status, problem) = app.get_json(&key, "/v1/agents?entityId=x").await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["entityId"]);
    app.stop().await;
}

#[tokio::test]
async fn another_tenants_catalog_is_not_found() {
    let app = TestApp::spawn().await;
    let (_, key) = app.create_tenant("First").await;
    let (_, intruder) = app.create_tenant("Second").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;
    let dental = create_type(&app, &key, &entity, "Dental").await;
    let product = create_product(&app, &key, &dental).await;
    let agent = create_agent(&app, &key, &entity, &[&dental]).await;
    let customer = create_customer(&app, &key, "Ada", "Lovelace").await;
    let (_, exception) = app
        .post_json(
            &key,
            &format!("/v1/agents/{agent}/exceptions"),
            &json!({ "date": "2026-12-24", "kind": "closed" }),
        )
        .await;

    let bodies = [
        (format!("/v1/entities/{entity}"), entity_body("Mine now")),
        (
            format!("/v1/appointment-types/{dental}"),
            json!({ "entity_id": entity, "name": "Mine" }),
        ),
        (
            format!("/v1/products/{product}"),
            json!({ "appointment_type_id": dental, "name": "Mine", "duration_minutes": 30 }),
        ),
        (format!("/v1/agents/{agent}"), agent_body(&entity, &[])),
        (
            format!("/v1/customers/{customer}"),
            json!({ "first_name": "Eve", "last_name": "Intruder" }),
        ),
    ];
    for (path, body) in &bodies {
        assert_eq!(app.get_json(&intruder, path).await.0, 404, "GET {path}");
        assert_eq!(
            app.put_json(&intruder, path, body).await.0,
            404,
            "PUT {path}"
        );
        assert_eq!(app.delete(&intruder, path).await.0, 404, "DELETE {path}");
    }
    let exceptions = format!("/v1/agents/{agent}/exceptions");
    let exception_path = format!("{exceptions}/{}", id_of(&exception));
    assert_eq!(app.get_json(&intruder, &exceptions).await.0, 404);
    assert_eq!(app.get_json(&intruder, &exception_path).await.0, 404);
    assert_eq!(app.delete(&intruder, &exception_path).await.0, 404);
    assert_eq!(
        app.post_json(
            &intruder,
            &exceptions,
            &json!({ "date": "2026-12-25", "kind": "closed" })
        )
        .await
        .0,
        404
    );

    // Lists show only the caller's rows, and their ids cannot be borrowed as parents.
    for list in [
        "/v1/entities",
        "/v1/appointment-types",
        "/v1/products",
        "/v1/agents",
        "/v1/customers",
    ] {
        let (status, page) = app.get_json(&intruder, list).await;
        assert_eq!(status, 200);
        assert_eq!(page["items"], json!([]), "{list}");
    }
    let (status, problem) = app
        .post_json(
            &intruder,
            "/v1/appointment-types",
            &json!({ "entity_id": entity, "name": "Borrowed" }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["entity_id"]);
    let (status, problem) = app
        .post_json(
            &intruder,
            "/v1/products",
            &json!({ "appointment_type_id": dental, "name": "Borrowed", "duration_minutes": 30 }),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(problem_fields(&problem), ["appointment_type_id"]);

    // The owner still sees everything unchanged.
    for (path, _) in &bodies {
        assert_eq!(app.get_json(&key, path).await.0, 200, "GET {path}");
    }
    assert_eq!(app.get_json(&key, "/v1/entities/not-a-uuid").await.0, 404);
    assert_eq!(
        app.get_json("attk_unknown", &format!("/v1/entities/{entity}"))
            .await
            .0,
        401
    );
    app.stop().await;
}

#[tokio::test]
async fn a_row_a_future_appointment_needs_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let (tenant_id, key) = app.create_tenant("Clinic").await;
    let entity = create_entity(&app, &key, &entity_body("Clinic")).await;
    let dental = create_type(&app, &key, &entity, "Dental").await;
    let product = create_product(&app, &key, &dental).await;
    let agent = create_agent(&app, &key, &entity, &[&dental]).await;
    let customer = create_customer(&app, &key, "Ada", "Lovelace").await;
    let past_customer = create_customer(&app, &key, "Old", "Timer").await;

    let appointment_id = Uuid::now_v7();
    let mut connection = app.env.connect("booking").await.unwrap();
    connection
        .batch_execute(&format!(
            "INSERT INTO appointments (id, tenant_id, customer_id, starts_at, ends_at, time_zone, \
                 entity_id, appointment_type_id, product_id, agent_id) \
             VALUES ('{appointment_id}', '{tenant_id}', '{customer}', now() + interval '1 day', \
                 now() + interval '1 day 30 minutes', 'Europe/Berlin', \
                 '{entity}', '{dental}', '{product}', '{agent}'); \
             INSERT INTO appointments (id, tenant_id, customer_id, starts_at, ends_at, time_zone, agent_id) \
             VALUES ('{}', '{tenant_id}', '{past_customer}', now() - interval '1 day', \
                 now() - interval '23 hours', 'Europe/Berlin', '{agent}');",
            Uuid::now_v7()
        ))
        .await
        .unwrap();

    for path in [
        format!("/v1/agents/{agent}"),
        format!("/v1/products/{product}"),
        format!("/v1/customers/{customer}"),
        format!("/v1/entities/{entity}"),
    ] {
        let (status, problem) = app.delete(&key, &path).await;
        assert_eq!(status, 409, "DELETE {path}: {problem}");
        assert_eq!(problem["code"], "in_use");
        assert_eq!(app.get_json(&key, &path).await.0, 200, "{path} is kept");
    }
    // Only future appointments hold a row.
    assert_eq!(
        app.delete(&key, &format!("/v1/customers/{past_customer}"))
            .await
            .0,
        204
    );

    // A cancelled appointment holds nothing.
    connection
        .batch_execute(&format!(
            "UPDATE appointments SET status = 'cancelled' WHERE id = '{appointment_id}'"
        ))
        .await
        .unwrap();
    for path in [
        format!("/v1/agents/{agent}"),
        format!("/v1/products/{product}"),
        format!("/v1/appointment-types/{dental}"),
        format!("/v1/entities/{entity}"),
        format!("/v1/customers/{customer}"),
    ] {
        assert_eq!(app.delete(&key, &path).await.0, 204, "DELETE {path}");
        assert_eq!(app.get_json(&key, &path).await.0, 404, "GET {path}");
    }
    drop(connection);
    app.stop().await;
}
