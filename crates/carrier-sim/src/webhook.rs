//! Signed webhook requests from the sim to the application (answer, action, redirect, hangup).

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

use crate::signature;

/// Largest answer document the carrier accepts (carriers.md 1.6: "must be ≤ 100 KB").
pub const MAX_DOCUMENT_BYTES: usize = 100 * 1024;

/// The HTTP method of a webhook (`answer_method`, Gather `method`, …).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// Parameters go in the query string.
    Get,
    /// Parameters go in a form-encoded body (the carrier default).
    #[default]
    Post,
}

impl HttpMethod {
    /// Parses `GET` or `POST`, ignoring case and surrounding whitespace.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(Self::Get),
            "POST" => Some(Self::Post),
            _ => None,
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::Get => "GET",
            Self::Post => "POST",
        })
    }
}

/// Why a URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// The URL does not parse, or is relative.
    #[error("{0:?} is not an absolute url")]
    NotAbsolute(String),
    /// The URL is not http or https.
    #[error("{0:?} is not an http(s) url")]
    NotHttp(String),
}

/// Parses an absolute `http://` or `https://` URL, as the carrier requires for every callback.
pub fn parse_http_url(value: &str) -> Result<Url, UrlError> {
    let url = Url::parse(value.trim()).map_err(|_| UrlError::NotAbsolute(value.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::NotHttp(value.to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NotAbsolute(value.to_owned()));
    }
    Ok(url)
}

/// Why a webhook request produced no response.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The request timed out.
    #[error("timed out")]
    Timeout(#[source] reqwest::Error),
    /// The request could not be sent or its response could not be read.
    #[error("request failed: {0}")]
    Transport(#[source] reqwest::Error),
}

/// What the application answered to a webhook.
#[derive(Debug, Clone)]
pub struct WebhookResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body, cut off after `MAX_DOCUMENT_BYTES + 1` bytes.
    pub body: Vec<u8>,
    /// Whether the body was longer than `MAX_DOCUMENT_BYTES`.
    pub too_large: bool,
}

impl WebhookResponse {
    /// Returns whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Returns whether the content type is `application/xml` or `text/xml` (parameters ignored).
    pub fn is_xml(&self) -> bool {
        let Some(content_type) = &self.content_type else {
            return false;
        };
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        essence == "application/xml" || essence == "text/xml"
    }
}

/// Sends webhook requests signed with the account's auth token.
#[derive(Debug, Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
    auth_token: String,
}

impl WebhookClient {
    /// Builds a client whose requests time out after `timeout`.
    pub fn new(auth_token: String, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            // The sim talks to local services; a proxy from the environment would only get in
            // the way of calls to 127.0.0.1.
            .no_proxy()
            .user_agent(concat!("carrier-sim/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(crate::CLIENT_POOL_IDLE_TIMEOUT)
            .build()?;
        Ok(Self { http, auth_token })
    }

    /// Sends `params` to `url` (form body for POST, query string for GET), signed as Vobiz does.
    pub async fn send(
        &self,
        url: &Url,
        method: HttpMethod,
        params: &[(String, String)],
    ) -> Result<WebhookResponse, WebhookError> {
        let mut target = url.clone();
        // A fragment carries carrier retry options (`#ct=…`) and is never sent.
        target.set_fragment(None);
        let headers = signature::sign(&self.auth_token, &target);

        let mut request = match method {
            HttpMethod::Post => self.http.post(target).form(params),
            HttpMethod::Get => {
                target.query_pairs_mut().extend_pairs(params);
                self.http.get(target)
            }
        };
        for (name, value) in headers.pairs() {
            request = request.header(name, value);
        }

        let mut response = request.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);

        let mut body = Vec::new();
        let mut too_large = false;
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                body.truncate(MAX_DOCUMENT_BYTES + 1);
                too_large = true;
                break;
            }
        }

        Ok(WebhookResponse {
            status,
            content_type,
            body,
            too_large,
        })
    }
}

fn classify(error: reqwest::Error) -> WebhookError {
    if error.is_timeout() {
        WebhookError::Timeout(error)
    } else {
        WebhookError::Transport(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_absolute_http_urls_are_accepted() {
        assert!(parse_http_url("https://gw.example/answer?x=1").is_ok());
        assert!(parse_http_url("http://127.0.0.1:8080/answer").is_ok());
        assert_eq!(
            parse_http_url("/answer"),
            Err(UrlError::NotAbsolute("/answer".to_owned()))
        );
        assert_eq!(
            parse_http_url("ftp://gw.example/a"),
            Err(UrlError::NotHttp("ftp://gw.example/a".to_owned()))
        );
    }

    #[test]
    fn methods_parse_case_insensitively() {
        assert_eq!(HttpMethod::parse("get"), Some(HttpMethod::Get));
        assert_eq!(HttpMethod::parse(" POST "), Some(HttpMethod::Post));
        assert_eq!(HttpMethod::parse("PUT"), None);
    }

    #[test]
    fn xml_content_types_are_recognised() {
        let response = |content_type: Option<&str>| WebhookResponse {
            status: 200,
            content_type: content_type.map(str::to_owned),
            body: Vec::new(),
            too_large: false,
        };
        assert!(response(Some("application/xml")).is_xml());
        assert!(response(Some("text/xml; charset=utf-8")).is_xml());
        assert!(!response(Some("text/html")).is_xml());
        assert!(!response(None).is_xml());
    }
}
