//! An integrator's settings for robo-call batches: where completion callbacks go and the
//! secret that signs them. The gateway generates the secret and shows it once, when it is
//! created or rotated; it keeps it (it signs with it) and never logs it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use rand::RngCore;
use uuid::Uuid;

use crate::db::schema::integrator_settings;

/// The prefix that makes callback secrets recognisable (and findable by secret scanners).
const SECRET_PREFIX: &str = "whsec_";

/// A tenant's callback settings.
#[derive(Clone)]
pub struct IntegratorSettings {
    /// Where completion callbacks are POSTed; `None` until the tenant sets one.
    pub callback_url: Option<String>,
    /// The HMAC-SHA256 key of `X-Attend-Signature`.
    pub callback_secret: String,
    /// When the secret was generated.
    pub secret_created_at: DateTime<Utc>,
}

// Deliberately without the secret.
impl std::fmt::Debug for IntegratorSettings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("IntegratorSettings")
            .field("callback_url", &self.callback_url)
            .field("secret_created_at", &self.secret_created_at)
            .finish_non_exhaustive()
    }
}

/// Returns `tenant_id`'s settings, if it saved any.
pub async fn load(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
) -> QueryResult<Option<IntegratorSettings>> {
    let row: Option<(Option<String>, String, DateTime<Utc>)> = integrator_settings::table
        .find(tenant_id)
        .select((
            integrator_settings::callback_url,
            integrator_settings::callback_secret,
            integrator_settings::secret_created_at,
        ))
        .first(connection)
        .await
        .optional()?;
    Ok(row.map(
        |(callback_url, callback_secret, secret_created_at)| IntegratorSettings {
            callback_url,
            callback_secret,
            secret_created_at,
        },
    ))
}

/// Saves `tenant_id`'s callback URL (`None` removes it). A secret is generated the first time
/// and when `rotate_secret` is set. Returns the settings and the new secret, if one was made:
/// the only time it is shown.
pub async fn save(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    callback_url: Option<&str>,
    rotate_secret: bool,
) -> QueryResult<(IntegratorSettings, Option<String>)> {
    let candidate = generate_secret();
    let created = diesel::insert_into(integrator_settings::table)
        .values((
            integrator_settings::tenant_id.eq(tenant_id),
            integrator_settings::callback_url.eq(callback_url),
            integrator_settings::callback_secret.eq(&candidate),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?
        == 1;
    let new_secret = if created {
        Some(candidate)
    } else if rotate_secret {
        diesel::update(integrator_settings::table.find(tenant_id))
            .set((
                integrator_settings::callback_url.eq(callback_url),
                integrator_settings::callback_secret.eq(&candidate),
                integrator_settings::secret_created_at.eq(diesel::dsl::now),
                integrator_settings::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?;
        Some(candidate)
    } else {
        diesel::update(integrator_settings::table.find(tenant_id))
            .set((
                integrator_settings::callback_url.eq(callback_url),
                integrator_settings::updated_at.eq(diesel::dsl::now),
            ))
            .execute(connection)
            .await?;
        None
    };
    let settings = load(connection, tenant_id)
        .await?
        .ok_or(diesel::result::Error::NotFound)?;
    Ok((settings, new_secret))
}

/// Returns a new random 256-bit secret.
fn generate_secret() -> String {
    let mut random = [0_u8; 32];
    rand::rng().fill_bytes(&mut random);
    let hex: String = random.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{SECRET_PREFIX}{hex}")
}

/// Checks a callback URL: absolute http(s), a host, no credentials or fragment. Returns it
/// normalised, or what is wrong.
pub fn check_callback_url(raw: &str) -> Result<String, &'static str> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| "must be an absolute http(s) URL")?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err("must be an absolute http(s) URL");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; the signature authenticates the callback");
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    if url.as_str().len() > 2_000 {
        return Err("must be at most 2000 characters");
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_prefixed() {
        let first = generate_secret();
        assert!(first.starts_with("whsec_"));
        assert_eq!(first.len(), 6 + 64);
        assert_ne!(first, generate_secret());
    }

    #[test]
    fn callback_urls_are_checked() {
        assert_eq!(
            check_callback_url(" https://crm.example.com/hooks/attend?x=1 "),
            Ok("https://crm.example.com/hooks/attend?x=1".to_owned())
        );
        assert!(check_callback_url("ftp://crm.example.com").is_err());
        assert!(check_callback_url("/hooks").is_err());
        assert!(check_callback_url("https://user:pw@crm.example.com").is_err());
        assert!(check_callback_url("https://crm.example.com/#x").is_err());
    }
}
