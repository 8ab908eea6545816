//! Per-tenant voice settings, kept from `tenant.settings_changed` (booking-service owns them):
//! the calling window, the callback number and the template overrides. The highest `version`
//! wins, so a late older event changes nothing.

use attend_events::{routing_keys, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use uuid::Uuid;

pub use attend_runtime::calling_window::CallingWindow;

use crate::attempts;
use crate::db::schema::tenant_settings;
use crate::templates::TemplateOverride;

/// The settings queue's name, without the AMQP prefix.
pub const QUEUE: &str = "voice.tenant-settings";
/// The appointment-cancelled queue's name, without the AMQP prefix.
pub const CANCELLED_QUEUE: &str = "voice.appointments-cancelled";
/// Returns the settings queue's spec.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(QUEUE, vec![routing_keys::TENANT_SETTINGS_CHANGED])
}

/// Returns the appointment-cancelled queue's spec.
pub fn cancelled_consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(CANCELLED_QUEUE, vec![routing_keys::APPOINTMENT_CANCELLED])
}

/// A tenant's voice settings, or the defaults.
#[derive(Debug, Clone, Default)]
pub struct VoiceSettings {
    /// The calling window.
    pub window: CallingWindow,
    /// The callback number; empty means the gateway's `CALLBACK_NUMBER`.
    pub callback_number: String,
    /// Template overrides.
    pub templates: Vec<TemplateOverride>,
}

/// How long the webhooks reuse a tenant's settings. They shape a call's script (template
/// overrides, the callback number), not whether it may be placed: the dialer reads the
/// calling window fresh each round. A change reaches scripts within this time of its event
/// being applied; reading them twice per call was 4 % of a call's statements.
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Tenants whose settings the cache holds at most.
const CACHE_CAPACITY: usize = 10_000;

/// Tenants' settings, kept for [`CACHE_TTL`].
pub type SettingsCache = attend_runtime::cache::TtlCache<Uuid, VoiceSettings>;

/// Returns an empty settings cache.
pub fn new_cache() -> SettingsCache {
    SettingsCache::new(CACHE_TTL, CACHE_CAPACITY)
}

/// Returns the settings of `tenant_id` from `cache`, reading and caching them when absent.
pub async fn load_cached(
    connection: &mut AsyncPgConnection,
    cache: &SettingsCache,
    tenant_id: Uuid,
) -> QueryResult<std::sync::Arc<VoiceSettings>> {
    if let Some(settings) = cache.get(&tenant_id) {
        return Ok(settings);
    }
    let settings = std::sync::Arc::new(load(connection, tenant_id).await?);
    cache.insert(tenant_id, settings.clone());
    Ok(settings)
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
        window: u32::try_from(start)
            .ok()
            .zip(u32::try_from(end).ok())
            .and_then(|(start, end)| CallingWindow::new(start, end))
            .unwrap_or_default(),
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
            .and_then(|window| CallingWindow::new(window.start_minute, window.end_minute))
            .unwrap_or_default();
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
        let start = i32::try_from(window.start_minute()).unwrap_or(0);
        let end = i32::try_from(window.end_minute()).unwrap_or(1440);
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
