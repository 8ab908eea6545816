//! A voicebot-ready catalog written straight into the test's database, so the webhook tests
//! do not depend on the catalog API they are not testing.

use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;

/// The ids of a seeded catalog.
pub struct Catalog {
    pub entity_id: Uuid,
    pub sip_id: String,
    pub massage: Uuid,
    pub gymnastics: Uuid,
    pub massage_30: Uuid,
    pub massage_45: Uuid,
    pub gymnastics_60: Uuid,
    pub max: Uuid,
    pub hans: Uuid,
}

/// How to seed.
pub struct CatalogSpec<'a> {
    pub time_zone: &'a str,
    /// Working hours of both agents, every day, in minutes since local midnight.
    pub hours: (u16, u16),
    /// Default reminder offsets, in seconds before the start.
    pub reminder_offsets: &'a [i32],
    /// Step between slot starts; the product's duration when `None`.
    pub slot_interval_minutes: Option<i32>,
}

impl Default for CatalogSpec<'_> {
    fn default() -> Self {
        Self {
            time_zone: "Europe/Berlin",
            hours: (8 * 60, 12 * 60),
            reminder_offsets: &[86_400],
            slot_interval_minutes: None,
        }
    }
}

async fn execute(connection: &mut AsyncPgConnection, sql: String) {
    diesel::sql_query(sql).execute(connection).await.unwrap();
}

/// Seeds a physiotherapy practice: two appointment types, three products, two agents who
/// both give massages (only Hans does gymnastics), working every day.
pub async fn seed_catalog(app: &TestApp, tenant_id: Uuid, spec: CatalogSpec<'_>) -> Catalog {
    let mut connection = app.env.connect("booking").await.unwrap();
    let connection = &mut connection;
    let catalog = Catalog {
        entity_id: Uuid::now_v7(),
        sip_id: format!("phoneSip{}", Uuid::now_v7().simple()),
        massage: Uuid::now_v7(),
        gymnastics: Uuid::now_v7(),
        massage_30: Uuid::now_v7(),
        massage_45: Uuid::now_v7(),
        gymnastics_60: Uuid::now_v7(),
        max: Uuid::now_v7(),
        hans: Uuid::now_v7(),
    };
    let interval = spec
        .slot_interval_minutes
        .map_or("NULL".to_owned(), |minutes| minutes.to_string());
    execute(
        connection,
        format!(
            "INSERT INTO entities (id, tenant_id, name, time_zone, locale, slot_interval_minutes)
             VALUES ('{}', '{tenant_id}', 'Physiotherapie Gleichgewicht', '{}', 'de', {interval})",
            catalog.entity_id, spec.time_zone
        ),
    )
    .await;
    execute(
        connection,
        format!(
            "INSERT INTO entity_sip_ids (tenant_id, sip_id, entity_id) VALUES ('{tenant_id}', '{}', '{}')",
            catalog.sip_id, catalog.entity_id
        ),
    )
    .await;
    for (position, offset) in spec.reminder_offsets.iter().enumerate() {
        execute(
            connection,
            format!(
                "INSERT INTO entity_reminder_defaults (entity_id, position, channel, offset_seconds)
                 VALUES ('{}', {position}, 'voice', {offset})",
                catalog.entity_id
            ),
        )
        .await;
    }
    for (id, name) in [
        (catalog.massage, "Massage"),
        (catalog.gymnastics, "Krankengymnastik"),
    ] {
        execute(
            connection,
            format!(
                "INSERT INTO appointment_types (id, tenant_id, entity_id, name)
                 VALUES ('{id}', '{tenant_id}', '{}', '{name}')",
                catalog.entity_id
            ),
        )
        .await;
    }
    for (id, type_id, name, minutes, cents, booker, participant) in [
        (
            catalog.massage_30,
            catalog.massage,
            "30 min Massage",
            30,
            4500,
            "{firstname,lastname,phone,email}",
            "{firstname,lastname,dob}",
        ),
        (
            catalog.massage_45,
            catalog.massage,
            "45 min Massage",
            45,
            6050,
            "{firstname,lastname,phone}",
            "{}",
        ),
        (
            catalog.gymnastics_60,
            catalog.gymnastics,
            "Krankengymnastik 60 min",
            60,
            8000,
            "{firstname,lastname}",
            "{}",
        ),
    ] {
        execute(
            connection,
            format!(
                "INSERT INTO products (id, tenant_id, appointment_type_id, name, duration_minutes,
                    description, price_cents, booker_info, participant_info)
                 VALUES ('{id}', '{tenant_id}', '{type_id}', '{name}', {minutes},
                    'A relaxing {minutes} min session', {cents}, '{booker}', '{participant}')"
            ),
        )
        .await;
    }
    for (id, first, last) in [
        (catalog.max, "Max", "Mustermann"),
        (catalog.hans, "Hans", "Meyer"),
    ] {
        execute(
            connection,
            format!(
                "INSERT INTO agents (id, tenant_id, entity_id, gender, first_name, last_name)
                 VALUES ('{id}', '{tenant_id}', '{}', 'male', '{first}', '{last}')",
                catalog.entity_id
            ),
        )
        .await;
        execute(
            connection,
            format!(
                "INSERT INTO agent_appointment_types (appointment_type_id, agent_id)
                 VALUES ('{}', '{id}')",
                catalog.massage
            ),
        )
        .await;
        execute(
            connection,
            format!(
                "INSERT INTO working_hours (agent_id, weekday, start_minute, end_minute)
                 SELECT '{id}', day, {}, {} FROM generate_series(1, 7) AS day",
                spec.hours.0, spec.hours.1
            ),
        )
        .await;
    }
    execute(
        connection,
        format!(
            "INSERT INTO agent_appointment_types (appointment_type_id, agent_id) VALUES ('{}', '{}')",
            catalog.gymnastics, catalog.hans
        ),
    )
    .await;
    catalog
}

impl TestApp {
    /// Posts one voicebot action; returns the status and the JSON body.
    pub async fn voicebot(&self, api_key: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/voicebot/webhook", self.address))
            .bearer_auth(api_key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Posts one voicebot action with an `Idempotency-Key`.
    pub async fn voicebot_with_key(
        &self,
        api_key: &str,
        key: &str,
        body: &Value,
    ) -> (u16, Value, bool) {
        let response = self
            .client
            .post(format!("{}/voicebot/webhook", self.address))
            .bearer_auth(api_key)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let replayed = response.headers().get("Idempotent-Replayed").is_some();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            replayed,
        )
    }
}

/// The contract's example booker, as a voicebot collects it.
pub fn example_booker() -> Value {
    json!({
        "id": "abcUserId",
        "firstname": "Max",
        "lastlame": "Mustermann",
        "email": "max.mustermann@mailinator.com",
        "dob": "1985-07-25",
        "phone": "+49-341-1234567",
        "street": "Beispiel Str. 2",
        "zip": "01044",
        "city": "Musterstadt",
        "country": "Musterland"
    })
}

/// Returns the local date `days` from now in `zone`, as `YYYY-MM-DD`.
pub fn date_in(days: i64, zone: chrono_tz::Tz) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .with_timezone(&zone)
        .format("%Y-%m-%d")
        .to_string()
}
