//! A tenant's stored reminder settings.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::schema::tenant_settings;
use crate::domain::reminder_settings::{ReminderSettings, SmsSettings, SmsTemplate, VoiceTemplate};

/// Stored settings with their version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSettings {
    /// One more per save, from 1.
    pub version: i64,
    /// When they were saved.
    pub updated_at: DateTime<Utc>,
    /// The settings.
    pub settings: ReminderSettings,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = tenant_settings, check_for_backend(diesel::pg::Pg))]
struct SettingsRow {
    version: i64,
    calling_window_start_minute: i32,
    calling_window_end_minute: i32,
    voice_max_retries: i32,
    voice_retry_interval_minutes: i32,
    voice_retry_on: Vec<String>,
    callback_number: Option<String>,
    voice_templates: serde_json::Value,
    updated_at: DateTime<Utc>,
    sms_from_number: Option<String>,
    sms_help_contact: Option<String>,
    sms_max_segments: i32,
    sms_templates: serde_json::Value,
}

/// A stored value the code cannot read back; the API validated it, so it is a bug.
#[derive(Debug, thiserror::Error)]
#[error("tenant_settings.{column} holds an unreadable value: {reason}")]
struct Unreadable {
    column: &'static str,
    reason: String,
}

fn unreadable(column: &'static str, reason: impl ToString) -> diesel::result::Error {
    diesel::result::Error::DeserializationError(Box::new(Unreadable {
        column,
        reason: reason.to_string(),
    }))
}

impl TryFrom<SettingsRow> for StoredSettings {
    type Error = diesel::result::Error;

    fn try_from(row: SettingsRow) -> Result<Self, Self::Error> {
        let unsigned = |column: &'static str, value: i32| {
            u32::try_from(value).map_err(|error| unreadable(column, error))
        };
        let templates: Vec<VoiceTemplate> = serde_json::from_value(row.voice_templates)
            .map_err(|error| unreadable("voice_templates", error))?;
        let sms_templates: Vec<SmsTemplate> = serde_json::from_value(row.sms_templates)
            .map_err(|error| unreadable("sms_templates", error))?;
        Ok(Self {
            version: row.version,
            updated_at: row.updated_at,
            settings: ReminderSettings {
                window_start_minute: unsigned(
                    "calling_window_start_minute",
                    row.calling_window_start_minute,
                )?,
                window_end_minute: unsigned(
                    "calling_window_end_minute",
                    row.calling_window_end_minute,
                )?,
                max_retries: unsigned("voice_max_retries", row.voice_max_retries)?,
                interval_minutes: unsigned(
                    "voice_retry_interval_minutes",
                    row.voice_retry_interval_minutes,
                )?,
                retry_on: row.voice_retry_on,
                callback_number: row.callback_number,
                templates,
                sms: SmsSettings {
                    from_number: row.sms_from_number,
                    help_contact: row.sms_help_contact,
                    max_segments: unsigned("sms_max_segments", row.sms_max_segments)?,
                    templates: sms_templates,
                },
            },
        })
    }
}

/// Returns the tenant's saved settings, `None` when it never saved any (the defaults apply).
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn find(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<StoredSettings>> {
    let row: Option<SettingsRow> = tenant_settings::table
        .find(tenant_id)
        .select(SettingsRow::as_select())
        .first(connection)
        .await
        .optional()?;
    row.map(StoredSettings::try_from).transpose()
}

/// Replaces the tenant's settings and returns them with their new version (one more than the
/// stored one, 1 for the first save). Concurrent saves take turns on the row, so each gets
/// its own version and the highest holds the last content written.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant_id))]
pub async fn replace(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    settings: &ReminderSettings,
) -> QueryResult<StoredSettings> {
    let to_i32 = |value: u32| i32::try_from(value).unwrap_or(i32::MAX);
    let templates = serde_json::to_value(&settings.templates)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    let sms_templates = serde_json::to_value(&settings.sms.templates)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    let row: SettingsRow = diesel::insert_into(tenant_settings::table)
        .values((
            tenant_settings::tenant_id.eq(tenant_id),
            tenant_settings::version.eq(1_i64),
            tenant_settings::calling_window_start_minute.eq(to_i32(settings.window_start_minute)),
            tenant_settings::calling_window_end_minute.eq(to_i32(settings.window_end_minute)),
            tenant_settings::voice_max_retries.eq(to_i32(settings.max_retries)),
            tenant_settings::voice_retry_interval_minutes.eq(to_i32(settings.interval_minutes)),
            tenant_settings::voice_retry_on.eq(&settings.retry_on),
            tenant_settings::callback_number.eq(settings.callback_number.as_deref()),
            tenant_settings::voice_templates.eq(&templates),
            tenant_settings::sms_from_number.eq(settings.sms.from_number.as_deref()),
            tenant_settings::sms_help_contact.eq(settings.sms.help_contact.as_deref()),
            tenant_settings::sms_max_segments.eq(to_i32(settings.sms.max_segments)),
            tenant_settings::sms_templates.eq(&sms_templates),
        ))
        .on_conflict(tenant_settings::tenant_id)
        .do_update()
        .set((
            tenant_settings::version.eq(tenant_settings::version + 1_i64),
            tenant_settings::calling_window_start_minute
                .eq(excluded(tenant_settings::calling_window_start_minute)),
            tenant_settings::calling_window_end_minute
                .eq(excluded(tenant_settings::calling_window_end_minute)),
            tenant_settings::voice_max_retries.eq(excluded(tenant_settings::voice_max_retries)),
            tenant_settings::voice_retry_interval_minutes
                .eq(excluded(tenant_settings::voice_retry_interval_minutes)),
            tenant_settings::voice_retry_on.eq(excluded(tenant_settings::voice_retry_on)),
            tenant_settings::callback_number.eq(excluded(tenant_settings::callback_number)),
            tenant_settings::voice_templates.eq(excluded(tenant_settings::voice_templates)),
            tenant_settings::sms_from_number.eq(excluded(tenant_settings::sms_from_number)),
            tenant_settings::sms_help_contact.eq(excluded(tenant_settings::sms_help_contact)),
            tenant_settings::sms_max_segments.eq(excluded(tenant_settings::sms_max_segments)),
            tenant_settings::sms_templates.eq(excluded(tenant_settings::sms_templates)),
            tenant_settings::updated_at.eq(diesel::dsl::now),
        ))
        .returning(SettingsRow::as_returning())
        .get_result(connection)
        .await?;
    StoredSettings::try_from(row)
}
