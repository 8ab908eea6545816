//! The carriers' inbound-text webhooks:
//! - `POST /sms/twilio/inbound` (and `/sms/twilio/inbound/{tenant_id}`): Twilio's form post,
//!   authenticated by `X-Twilio-Signature` over `PUBLIC_URL + path + query` and the sorted
//!   parameters; answered with an empty TwiML `<Response/>` (the answers go out through the
//!   API, like every other text, so they are recorded and retried the same way);
//! - `POST /sms/flowroute/inbound?token=…` (and `/sms/flowroute/inbound/{tenant_id}?token=…`):
//!   Flowroute's JSON (the v2.1 JSON:API body, or the flat `{"to","from","body"}` the replaced
//!   service read). Flowroute signs nothing, so the URL carries a secret: `SMS_INBOUND_SECRET`
//!   on the shared route, HMAC-SHA256(secret, tenant id) in hex on a tenant's own route.
//!
//! A request that fails authentication is a 403 problem and changes nothing; a body that is
//! not a text is a 400 problem naming the field; a database failure is a 503 so the carrier
//! delivers it again, which the inbound record makes harmless.

use actix_web::http::header::ContentType;
use actix_web::{HttpRequest, HttpResponse, web};
use attend_runtime::db::DbPool;
use attend_runtime::{Problem, Secret};
use diesel_async::AsyncConnection;
use serde::Deserialize;
use uuid::Uuid;

use crate::inbound::{self, InboundSms};
use attend_runtime::phone;

use crate::signature;

/// The longest number field a carrier sends (the replaced service's limit).
const MAX_NUMBER_LEN: usize = 18;
/// The longest text accepted: ten concatenated UCS-2 segments, with room to spare.
const MAX_BODY_LEN: usize = 1_600;

/// What the webhook handlers share.
#[derive(Clone)]
pub struct WebhookState {
    /// The service's pool.
    pub pool: DbPool,
    /// `PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// Twilio's auth token: verifies `X-Twilio-Signature`.
    pub twilio_auth_token: Secret,
    /// `SMS_INBOUND_SECRET`: authenticates Flowroute's posts.
    pub inbound_secret: Secret,
    /// Wakes the sender once an answer text is committed.
    pub wake_sender: std::sync::Arc<tokio::sync::Notify>,
}

/// Registers the webhook routes.
pub fn configure(config: &mut web::ServiceConfig, state: web::Data<WebhookState>) {
    config.service(
        web::scope("/sms")
            .app_data(state)
            .route("/twilio/inbound", web::post().to(twilio_inbound))
            .route(
                "/twilio/inbound/{tenant_id}",
                web::post().to(twilio_inbound),
            )
            .route("/flowroute/inbound", web::post().to(flowroute_inbound))
            .route(
                "/flowroute/inbound/{tenant_id}",
                web::post().to(flowroute_inbound),
            ),
    );
}

/// The optional tenant of a tenant's own route.
#[derive(Debug, Deserialize)]
struct TenantPath {
    tenant_id: Option<String>,
}

fn tenant_scope(path: &TenantPath) -> Result<Option<Uuid>, Problem> {
    match &path.tenant_id {
        None => Ok(None),
        Some(raw) => raw
            .parse()
            .map(Some)
            .map_err(|_| Problem::not_found("tenant webhook")),
    }
}

async fn twilio_inbound(
    request: HttpRequest,
    path: web::Path<TenantPath>,
    body: web::Bytes,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, Problem> {
    let scope = tenant_scope(&path)?;
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| Problem::malformed("the body is not a form"))?;
    let url = called_url(&state.public_url, &request);
    let header = request
        .headers()
        .get("X-Twilio-Signature")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !signature::verify_twilio(state.twilio_auth_token.expose(), &url, &params, header) {
        tracing::warn!("twilio webhook with a bad signature refused");
        return Err(forbidden("the X-Twilio-Signature does not match"));
    }
    let field = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let sms = InboundSms {
        carrier: "twilio",
        provider_ref: required(field("MessageSid"), "MessageSid", 64)?.to_owned(),
        from: number(field("From"), "From")?,
        to: number(field("To"), "To")?,
        body: body_text(field("Body"), "Body")?,
        tenant_scope: scope,
    };
    apply(&state, &sms).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::xml())
        .body(r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#))
}

/// The token of a Flowroute post.
#[derive(Debug, Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Flowroute's v2.1 body (`data.attributes`) or the replaced service's flat body.
#[derive(Debug, Deserialize)]
struct FlowrouteBody {
    data: Option<FlowrouteData>,
    to: Option<String>,
    from: Option<String>,
    body: Option<String>,
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FlowrouteData {
    id: Option<String>,
    attributes: Option<FlowrouteAttributes>,
}

#[derive(Debug, Deserialize)]
struct FlowrouteAttributes {
    to: Option<String>,
    from: Option<String>,
    body: Option<String>,
}

async fn flowroute_inbound(
    path: web::Path<TenantPath>,
    query: web::Query<TokenQuery>,
    body: web::Bytes,
    state: web::Data<WebhookState>,
) -> Result<HttpResponse, Problem> {
    let scope = tenant_scope(&path)?;
    let given = query.token.as_deref().unwrap_or_default();
    let secret = state.inbound_secret.expose();
    let expected = match scope {
        Some(tenant_id) => signature::tenant_inbound_token(secret, tenant_id),
        None => secret.to_owned(),
    };
    if !signature::tokens_match(&expected, given) {
        tracing::warn!("flowroute webhook with a bad token refused");
        return Err(forbidden("the token does not match"));
    }
    let parsed: FlowrouteBody = attend_runtime::http::parse_json(&body)?;
    let (id, attributes) = match parsed.data {
        Some(data) => {
            let attributes = data
                .attributes
                .ok_or_else(|| Problem::invalid_field("data.attributes", "is required"))?;
            (data.id, (attributes.to, attributes.from, attributes.body))
        }
        None => (parsed.id, (parsed.to, parsed.from, parsed.body)),
    };
    let (to, from, text) = attributes;
    let from = number(from.as_deref(), "from")?;
    let to = number(to.as_deref(), "to")?;
    let text = body_text(text.as_deref(), "body")?;
    // The flat body has no id: the same text from the same number within the same minute
    // counts as one delivery.
    let provider_ref = match id {
        Some(id) if !id.trim().is_empty() => required(Some(&id), "data.id", 64)?.to_owned(),
        _ => format!(
            "{from}:{to}:{}:{}",
            chrono::Utc::now().format("%Y%m%d%H%M"),
            short_digest(&text)
        ),
    };
    let sms = InboundSms {
        carrier: "flowroute",
        provider_ref,
        from,
        to,
        body: text,
        tenant_scope: scope,
    };
    apply(&state, &sms).await?;
    Ok(HttpResponse::Ok().finish())
}

/// Handles `sms` in one transaction; a database failure asks the carrier to come back.
async fn apply(state: &WebhookState, sms: &InboundSms) -> Result<(), Problem> {
    let mut connection = state.pool.get().await.map_err(|error| {
        tracing::warn!(error.message = %error, "no database connection for an inbound text");
        Problem::unavailable("the database is unavailable; deliver it again")
    })?;
    connection
        .transaction::<_, diesel::result::Error, _>(async |connection| {
            inbound::handle(connection, sms).await
        })
        .await
        .map_err(|error| {
            tracing::warn!(error.message = %error, "inbound text not applied");
            Problem::unavailable("the text could not be recorded; deliver it again")
        })?;
    state.wake_sender.notify_one();
    Ok(())
}

/// Returns the URL the carrier called, as it signs it: `PUBLIC_URL` with the request's path
/// and query.
fn called_url(public_url: &str, request: &HttpRequest) -> String {
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|value| value.as_str())
        .unwrap_or("/");
    format!("{public_url}{path_and_query}")
}

fn required<'a>(value: Option<&'a str>, field: &str, max_len: usize) -> Result<&'a str, Problem> {
    let value = value.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(Problem::invalid_field(field, "is required"));
    }
    if value.len() > max_len {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {max_len} characters"),
        ));
    }
    Ok(value)
}

fn number(value: Option<&str>, field: &str) -> Result<String, Problem> {
    let raw = required(value, field, MAX_NUMBER_LEN)?;
    phone::normalize(raw).ok_or_else(|| Problem::invalid_field(field, "is not a phone number"))
}

fn body_text(value: Option<&str>, field: &str) -> Result<String, Problem> {
    let text = value.unwrap_or_default();
    if text.chars().count() > MAX_BODY_LEN {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {MAX_BODY_LEN} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Returns the first 16 hex digits of the text's SHA-256: enough to tell texts apart.
fn short_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn forbidden(detail: &str) -> Problem {
    Problem::new(
        actix_web::http::StatusCode::FORBIDDEN,
        "webhook_unauthenticated",
        "Webhook not authenticated",
    )
    .with_detail(detail)
}
