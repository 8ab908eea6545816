//! Per-tenant voice settings, kept from `tenant.settings_changed` (booking-service owns them):
//! the calling window, the callback number and the template overrides. The highest `version`
//! wins, so a late older event changes nothing.

use attend_events::{routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent};
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::attempts;
use crate::db::schema::tenant_settings;
use crate::templates::TemplateOverride;

/// The settings queue's name, without the AMQP prefix.
pub const QUEUE: &str = "voice.tenant-settings";
/// The appointment-cancelled queue's name, without the AMQP prefix.
pub const CANCELLED_QUEUE: &str = "voice.appointments-cancelled";
/// The default calling window, 08:00–21:00 in the recipient's zone (carriers.md 1.1).
pub const DEFAULT_WINDOW: CallingWindow = CallingWindow {
    start_minute: 8 * 60,
    end_minute: 21 * 60,
};

/// Returns the settings queue's spec.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(QUEUE, vec![routing_keys::TENANT_SETTINGS_CHANGED])
}

/// Returns the appointment-cancelled queue's spec.
pub fn cancelled_consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(CANCELLED_QUEUE, vec![routing_keys::APPOINTMENT_CANCELLED])
}

/// When calls may ring, in the recipient's zone: [start, end) minutes after local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallingWindow {
    /// Opening, minutes after midnight.
    pub start_minute: u32,
    /// Closing, minutes after midnight (exclusive).
    pub end_minute: u32,
}

impl CallingWindow {
    /// Returns `None` when `now` is inside the window in `time_zone`, else the next opening.
    /// An unknown zone is treated as UTC; an empty window (start ≥ end) never opens, so the
    /// default is used instead.
    pub fn next_opening(self, now: DateTime<Utc>, time_zone: &str) -> Option<DateTime<Utc>> {
        let window = if self.start_minute < self.end_minute && self.end_minute <= 1440 {
            self
        } else {
            DEFAULT_WINDOW
        };
        let zone: Tz = time_zone.trim().parse().unwrap_or(Tz::UTC);
        let local = now.with_timezone(&zone);
        let minute = local.hour() * 60 + local.minute();
        if (window.start_minute..window.end_minute).contains(&minute) {
            return None;
        }
        let opening =
            NaiveTime::from_hms_opt(window.start_minute / 60, window.start_minute % 60, 0)
                .unwrap_or_default();
        let day = if minute < window.start_minute {
            local.date_naive()
        } else {
            local.date_naive() + Duration::days(1)
        };
        // A DST gap at the opening moves it to the first valid instant after.
        let mut candidate = day.and_time(opening);
        for _ in 0..4 {
            if let Some(instant) = zone.from_local_datetime(&candidate).earliest() {
                return Some(instant.with_timezone(&Utc));
            }
            candidate += Duration::minutes(30);
        }
        Some(now + Duration::hours(1))
    }
}

/// A tenant's voice settings, or the defaults.
#[derive(Debug, Clone)]
pub struct VoiceSettings {
    /// The calling window.
    pub window: CallingWindow,
    /// The callback number; empty means the gateway's `CALLBACK_NUMBER`.
    pub callback_number: String,
    /// Template overrides.
    pub templates: Vec<TemplateOverride>,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            callback_number: String::new(),
            templates: Vec::new(),
        }
    }
}

/// Returns the settings of `tenant_id`, or the defaults when it never saved any.
pub async fn load(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<VoiceSettings> {
    let row: Option<(i32, i32, String, serde_json::Value)> = tenant_settings::table
        .find(tenant_id)
        .select((
            tenant_settings::window_start_minute,
            tenant_settings::window_end_minute,
            tenant_settings::callback_number,
            tenant_settings::templates,
        ))
        .first(connection)
        .await
        .optional()?;
    let Some((start, end, callback_number, templates)) = row else {
        return Ok(VoiceSettings::default());
    };
    let templates = serde_json::from_value(templates).unwrap_or_else(|error| {
        tracing::warn!(%tenant_id, error.message = %error, "stored templates unreadable, using built-ins");
        Vec::new()
    });
    Ok(VoiceSettings {
        window: CallingWindow {
            start_minute: u32::try_from(start).unwrap_or(DEFAULT_WINDOW.start_minute),
            end_minute: u32::try_from(end).unwrap_or(DEFAULT_WINDOW.end_minute),
        },
        callback_number,
        templates,
    })
}

/// Applies `tenant.settings_changed`.
pub struct SettingsHandler;

impl SettingsHandler {
    async fn apply(
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        let changed: v1::TenantSettingsChanged = event.decode()?;
        let tenant_id: Uuid = changed
            .tenant_id
            .trim()
            .parse()
            .map_err(|_| HandlerError::permanent("tenant_id is not a uuid"))?;
        let version = i64::try_from(changed.version)
            .map_err(|_| HandlerError::permanent("version out of range"))?;
        let window = changed
            .calling_window
            .map(|window| CallingWindow {
                start_minute: window.start_minute,
                end_minute: window.end_minute,
            })
            .filter(|window| window.start_minute < window.end_minute && window.end_minute <= 1440)
            .unwrap_or(DEFAULT_WINDOW);
        let voice = changed.voice.unwrap_or_default();
        let templates: Vec<TemplateOverride> = voice
            .templates
            .into_iter()
            .map(|template| TemplateOverride {
                name: template.name.trim().to_owned(),
                language: template.language.trim().to_ascii_lowercase(),
                text: template.text,
            })
            .collect();
        let templates = serde_json::to_value(&templates)
            .map_err(|error| HandlerError::permanent(format!("templates: {error}")))?;
        let start = i32::try_from(window.start_minute).unwrap_or(0);
        let end = i32::try_from(window.end_minute).unwrap_or(1440);
        // Only a newer version replaces what is stored: a late older event changes nothing.
        let written = diesel::sql_query(
            "INSERT INTO tenant_settings (tenant_id, version, window_start_minute, \
             window_end_minute, callback_number, templates) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id) DO UPDATE SET version = EXCLUDED.version, \
             window_start_minute = EXCLUDED.window_start_minute, \
             window_end_minute = EXCLUDED.window_end_minute, \
             callback_number = EXCLUDED.callback_number, templates = EXCLUDED.templates, \
             updated_at = now() WHERE tenant_settings.version < EXCLUDED.version",
        )
        .bind::<diesel::sql_types::Uuid, _>(tenant_id)
        .bind::<diesel::sql_types::BigInt, _>(version)
        .bind::<diesel::sql_types::Integer, _>(start)
        .bind::<diesel::sql_types::Integer, _>(end)
        .bind::<diesel::sql_types::Text, _>(voice.callback_number.trim())
        .bind::<diesel::sql_types::Jsonb, _>(&templates)
        .execute(connection)
        .await?;
        tracing::info!(%tenant_id, version, applied = written == 1, "tenant voice settings");
        Ok(())
    }
}

impl EventHandler for SettingsHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(Self::apply(connection, event))
    }
}

/// Applies `appointment.cancelled`: queued attempts of the appointment are dropped (status
/// `dropped`, no outcome event: the scheduler closes the reminder from the same event).
pub struct CancelledHandler;

impl CancelledHandler {
    async fn apply(
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        let cancelled: v1::AppointmentCancelled = event.decode()?;
        let appointment_id: Uuid = cancelled
            .appointment_id
            .trim()
            .parse()
            .map_err(|_| HandlerError::permanent("appointment_id is not a uuid"))?;
        let dropped = attempts::drop_queued_of_appointment(connection, appointment_id).await?;
        if dropped > 0 {
            tracing::info!(%appointment_id, dropped, "queued calls of a cancelled appointment dropped");
        }
        Ok(())
    }
}

impl EventHandler for CancelledHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(Self::apply(connection, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn inside_the_window_calls_at_once() {
        // 15:00 UTC is 10:00 in New York.
        assert_eq!(
            DEFAULT_WINDOW.next_opening(at("2026-03-10T15:00:00Z"), "America/New_York"),
            None
        );
    }

    #[test]
    fn outside_the_window_waits_for_the_next_local_opening() {
        // 03:00 UTC is 22:00 the day before in New York (EST): opens at 08:00 EST = 13:00 UTC.
        assert_eq!(
            DEFAULT_WINDOW.next_opening(at("2026-01-10T03:00:00Z"), "America/New_York"),
            Some(at("2026-01-10T13:00:00Z"))
        );
        // The same instant is 04:00 in Berlin: opens at 08:00 CET = 07:00 UTC the same day.
        assert_eq!(
            DEFAULT_WINDOW.next_opening(at("2026-01-10T03:00:00Z"), "Europe/Berlin"),
            Some(at("2026-01-10T07:00:00Z"))
        );
        // 21:00 exactly is closed.
        assert_eq!(
            DEFAULT_WINDOW.next_opening(at("2026-01-10T20:00:00Z"), "Europe/Berlin"),
            Some(at("2026-01-11T07:00:00Z"))
        );
    }
}
