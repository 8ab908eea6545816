//! Per-tenant SMS settings, kept from `tenant.settings_changed` (booking-service owns them):
//! the sending window, the sender number, the HELP contact, the segment limit and the template
//! overrides. The highest `version` wins, so a late older event changes nothing.

use attend_events::v1;
use attend_runtime::HandlerError;
use attend_runtime::calling_window::CallingWindow;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::schema::tenant_settings;

/// The segment limit when a tenant set none (booking-service validates templates against
/// the tenant's own limit when they are saved).
pub const DEFAULT_MAX_SEGMENTS: u32 = 3;

/// One tenant override of a built-in text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateOverride {
    /// The template name (`reminder`, `confirmed`, …).
    pub name: String,
    /// The primary language subtag, lower case.
    pub language: String,
    /// The text.
    pub text: String,
}

/// A tenant's SMS settings, or the defaults.
#[derive(Debug, Clone, Default)]
pub struct SmsSettings {
    /// When texts may reach people, in their own zone (the tenant's calling window).
    pub window: CallingWindow,
    /// The sender; empty means the service's `SMS_FROM_NUMBER`.
    pub from_number: String,
    /// What a HELP answer names as the contact; empty means the sender number.
    pub help_contact: String,
    /// The most segments a rendered message may take.
    pub max_segments: u32,
    /// Template overrides.
    pub templates: Vec<TemplateOverride>,
}

impl SmsSettings {
    /// Returns the override of `name` in `language`, if the tenant has one.
    pub fn template(&self, name: &str, language: &str) -> Option<&str> {
        self.templates
            .iter()
            .find(|template| template.name == name && template.language == language)
            .map(|template| template.text.as_str())
    }
}

/// Returns the settings of `tenant_id`, or the defaults when it never saved any.
pub async fn load(connection: &mut AsyncPgConnection, tenant_id: Uuid) -> QueryResult<SmsSettings> {
    type Row = (i32, i32, i32, String, String, serde_json::Value);
    let row: Option<Row> = tenant_settings::table
        .find(tenant_id)
        .select((
            tenant_settings::window_start_minute,
            tenant_settings::window_end_minute,
            tenant_settings::max_segments,
            tenant_settings::from_number,
            tenant_settings::help_contact,
            tenant_settings::templates,
        ))
        .first(connection)
        .await
        .optional()?;
    let Some((start, end, max_segments, from_number, help_contact, templates)) = row else {
        return Ok(SmsSettings {
            max_segments: DEFAULT_MAX_SEGMENTS,
            ..SmsSettings::default()
        });
    };
    let templates = serde_json::from_value(templates).unwrap_or_else(|error| {
        tracing::warn!(%tenant_id, error.message = %error, "stored templates unreadable, using built-ins");
        Vec::new()
    });
    Ok(SmsSettings {
        window: window_of(start, end),
        from_number,
        help_contact,
        max_segments: u32::try_from(max_segments)
            .ok()
            .filter(|limit| *limit > 0)
            .unwrap_or(DEFAULT_MAX_SEGMENTS),
        templates,
    })
}

fn window_of(start: i32, end: i32) -> CallingWindow {
    u32::try_from(start)
        .ok()
        .zip(u32::try_from(end).ok())
        .and_then(|(start, end)| CallingWindow::new(start, end))
        .unwrap_or_default()
}

/// Stores `changed` unless a newer version is stored already.
pub async fn apply(
    connection: &mut AsyncPgConnection,
    changed: &v1::TenantSettingsChanged,
) -> Result<(), HandlerError> {
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
    let sms = changed.sms.clone().unwrap_or_default();
    let templates: Vec<TemplateOverride> = sms
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
    let max_segments = i32::try_from(sms.max_segments)
        .ok()
        .filter(|limit| *limit > 0)
        .unwrap_or(3);
    // Only a newer version replaces what is stored: a late older event changes nothing.
    let written = diesel::sql_query(
        "INSERT INTO tenant_settings (tenant_id, version, window_start_minute, \
         window_end_minute, max_segments, from_number, help_contact, templates) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id) DO UPDATE SET version = EXCLUDED.version, \
         window_start_minute = EXCLUDED.window_start_minute, \
         window_end_minute = EXCLUDED.window_end_minute, \
         max_segments = EXCLUDED.max_segments, from_number = EXCLUDED.from_number, \
         help_contact = EXCLUDED.help_contact, templates = EXCLUDED.templates, \
         updated_at = now() WHERE tenant_settings.version < EXCLUDED.version",
    )
    .bind::<diesel::sql_types::Uuid, _>(tenant_id)
    .bind::<diesel::sql_types::BigInt, _>(version)
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(window.start_minute()).unwrap_or(0))
    .bind::<diesel::sql_types::Integer, _>(i32::try_from(window.end_minute()).unwrap_or(1440))
    .bind::<diesel::sql_types::Integer, _>(max_segments)
    .bind::<diesel::sql_types::Text, _>(sms.from_number.trim())
    .bind::<diesel::sql_types::Text, _>(sms.help_contact.trim())
    .bind::<diesel::sql_types::Jsonb, _>(&templates)
    .execute(connection)
    .await?;
    tracing::info!(%tenant_id, version, applied = written == 1, "tenant sms settings");
    Ok(())
}
