//! `/v1/settings/reminders`: the tenant's calling window, voice retry policy, callback number
//! and voice templates, and its SMS sender, help contact, segment limit and SMS templates. A save publishes `tenant.settings_changed` (the whole settings, with
//! the new version) through the outbox in the same transaction.

use actix_web::{HttpResponse, web};
use attend_events::{to_timestamp, v1};
use attend_runtime::{ApiJson, outbox};
use diesel_async::AsyncConnection;

use crate::auth::Tenant;
use crate::db::tenant_settings::{self as queries, StoredSettings};
use crate::domain::reminder_settings::{ReminderSettings, ReminderSettingsRequest};
use crate::domain::validation::Issues;
use crate::error::ApiError;
use crate::startup::AppState;

/// `GET /v1/settings/reminders`: the saved settings, or the defaults (version 0) when the
/// tenant never saved any.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id))]
pub async fn get_reminder_settings(
    tenant: Tenant,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut connection = state.pool.get().await?;
    let response = match queries::find(&mut connection, tenant.id).await? {
        Some(stored) => stored
            .settings
            .to_response(stored.version, Some(stored.updated_at)),
        None => ReminderSettings::default().to_response(0, None),
    };
    Ok(HttpResponse::Ok().json(response))
}

/// `PUT /v1/settings/reminders`: replaces the settings (an absent section takes its
/// default), bumps the version and publishes `tenant.settings_changed`.
#[tracing::instrument(skip_all, fields(tenant_id = %tenant.id, version))]
pub async fn replace_reminder_settings(
    tenant: Tenant,
    state: web::Data<AppState>,
    ApiJson(request): ApiJson<ReminderSettingsRequest>,
) -> Result<HttpResponse, ApiError> {
    let mut issues = Issues::default();
    let settings = request.validate(&tenant.default_region, &mut issues);
    issues.finish()?;
    let mut connection = state.pool.get().await?;
    let tenant_id = tenant.id;
    let stored = connection
        .transaction::<_, ApiError, _>(async |connection| {
            let stored = queries::replace(connection, tenant_id, &settings).await?;
            outbox::enqueue(
                connection,
                Some(tenant_id),
                &settings_changed(tenant_id, &stored),
            )
            .await?;
            Ok(stored)
        })
        .await?;
    tracing::Span::current().record("version", stored.version);
    tracing::info!("reminder settings saved");
    Ok(HttpResponse::Ok().json(
        stored
            .settings
            .to_response(stored.version, Some(stored.updated_at)),
    ))
}

/// Returns `tenant.settings_changed` carrying the whole stored settings.
pub fn settings_changed(
    tenant_id: uuid::Uuid,
    stored: &StoredSettings,
) -> v1::TenantSettingsChanged {
    let settings = &stored.settings;
    v1::TenantSettingsChanged {
        tenant_id: tenant_id.to_string(),
        version: u64::try_from(stored.version).unwrap_or_default(),
        calling_window: Some(v1::CallingWindow {
            start_minute: settings.window_start_minute,
            end_minute: settings.window_end_minute,
        }),
        voice_retry: Some(v1::RetryPolicy {
            max_retries: settings.max_retries,
            interval_seconds: settings.interval_minutes.saturating_mul(60),
            retry_on: settings
                .retry_on
                .iter()
                .filter_map(|name| outcome_kind(name))
                .map(i32::from)
                .collect(),
        }),
        voice: Some(v1::VoiceSettings {
            callback_number: settings.callback_number.clone().unwrap_or_default(),
            templates: settings
                .templates
                .iter()
                .map(|template| v1::VoiceTemplate {
                    name: template.name.clone(),
                    language: template.language.clone(),
                    text: template.text.clone(),
                })
                .collect(),
        }),
        changed_at: Some(to_timestamp(stored.updated_at)),
        sms: Some(v1::SmsSettings {
            templates: settings
                .sms
                .templates
                .iter()
                .map(|template| v1::SmsTemplate {
                    name: template.name.clone(),
                    language: template.language.clone(),
                    text: template.text.clone(),
                })
                .collect(),
            max_segments: settings.sms.max_segments,
            from_number: settings.sms.from_number.clone().unwrap_or_default(),
            help_contact: settings.sms.help_contact.clone().unwrap_or_default(),
        }),
    }
}

/// Returns the protobuf kind of a retryable outcome's snake_case name.
fn outcome_kind(name: &str) -> Option<v1::ReminderOutcomeKind> {
    match name {
        "busy" => Some(v1::ReminderOutcomeKind::Busy),
        "no_answer" => Some(v1::ReminderOutcomeKind::NoAnswer),
        "machine" => Some(v1::ReminderOutcomeKind::Machine),
        "failed" => Some(v1::ReminderOutcomeKind::Failed),
        _ => None,
    }
}
