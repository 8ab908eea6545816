//! Authenticating carrier webhooks.
//!
//! - **Twilio** signs each webhook: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, the
//!   full URL as requested + every POST parameter sorted by name, as name then value, with no
//!   separators)) (carriers.md §1.5). Like Twilio's SDKs, verification also accepts the URL
//!   with its port removed or with the scheme's default port added, because proxies in front
//!   of us may rewrite either.
//! - **Flowroute** signs nothing. Each tenant's inbound URL carries a secret token instead:
//!   lowercase hex of HMAC-SHA256(secret, tenant id), so a token names one tenant and cannot be
//!   forged without the secret.
//!
//! Every comparison runs in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

/// Computes Twilio's `X-Twilio-Signature` for a request to `url` with the form `params`.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    // Sorting by name then value matches the SDKs for repeated names too.
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut mac = hmac_sha1(auth_token.as_bytes());
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Returns whether `header` is Twilio's signature of a request to `url` with `params`, for the
/// URL as given, without its port, or with the scheme's default port.
pub fn verify_twilio(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    header: &str,
) -> bool {
    let header = header.trim();
    if header.is_empty() {
        return false;
    }
    // Every candidate is checked, so the time taken does not tell which one matched.
    let mut matched = false;
    for candidate in url_variants(url) {
        let expected = twilio_signature(auth_token, &candidate, params);
        matched |= tokens_match(&expected, header);
    }
    matched
}

/// Returns the inbound-URL token of `tenant_id`: lowercase hex of
/// HMAC-SHA256(`secret`, the tenant id as a hyphenated lowercase string).
pub fn tenant_inbound_token(secret: &str, tenant_id: uuid::Uuid) -> String {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
    )]
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
    mac.update(tenant_id.hyphenated().to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Returns whether two tokens are equal, in time that depends only on their lengths.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

fn hmac_sha1(key: &[u8]) -> Hmac<Sha1> {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
    )]
    Hmac::<Sha1>::new_from_slice(key).expect("hmac accepts any key length")
}

/// Returns `url` as given, plus the variants Twilio's SDKs also accept: without an explicit
/// port, and with the scheme's default port. Built by hand because URL parsers drop a
/// default port.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return variants;
    };
    let Some(host) = parsed.host_str() else {
        return variants;
    };
    let Some(default_port) = parsed.port_or_known_default() else {
        return variants;
    };
    let scheme = parsed.scheme();
    let rest = match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let without_port = format!("{scheme}://{host}{rest}");
    let with_port = match parsed.port() {
        Some(port) => format!("{scheme}://{host}:{port}{rest}"),
        None => format!("{scheme}://{host}:{default_port}{rest}"),
    };
    for variant in [without_port, with_port] {
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vectors of twilio-python's tests/unit/test_request_validator.py (auth token "12345").
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
            ("Caller", "+14158675309"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
    }

    #[test]
    fn the_signature_matches_twilios_published_vector() {
        assert_eq!(twilio_signature(TOKEN, URL, &params()), EXPECTED);
        assert!(verify_twilio(TOKEN, URL, &params(), EXPECTED));
    }

    #[test]
    fn repeated_parameters_are_sorted_by_value() {
        let params: Vec<(String, String)> = [
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
        assert_eq!(
            twilio_signature(TOKEN, URL, &params),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn a_port_added_or_removed_by_a_proxy_still_verifies() {
        // Signed without a port, received with one (twilio-python: "removes port on https").
        let with_port = URL.replace(".com", ".com:1234");
        assert!(verify_twilio(TOKEN, &with_port, &params(), EXPECTED));
        // Signed with the default port, received without (the SDK's "adds port on https").
        assert!(verify_twilio(
            TOKEN,
            URL,
            &params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        let http = URL.replace("https", "http");
        assert!(verify_twilio(
            TOKEN,
            &http,
            &params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
        let http_with_port = http.replace(".com", ".com:1234");
        assert!(verify_twilio(
            TOKEN,
            &http_with_port,
            &params(),
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
        ));
    }

    #[test]
    fn tampering_fails_verification() {
        assert!(!verify_twilio("54321", URL, &params(), EXPECTED));
        let mut changed = params();
        changed[1].1 = "9".to_owned();
        assert!(!verify_twilio(TOKEN, URL, &changed, EXPECTED));
        assert!(!verify_twilio(
            TOKEN,
            &URL.replace("foo=1", "foo=2"),
            &params(),
            EXPECTED
        ));
        assert!(!verify_twilio(TOKEN, URL, &params(), ""));
        assert!(!verify_twilio(TOKEN, "not a url", &params(), EXPECTED));
    }

    #[test]
    fn the_tenant_token_matches_an_independent_computation() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"sim-sms-inbound-secret",
        //   b"0192f2a0-0000-7000-8000-000000000001", hashlib.sha256).hexdigest())'
        let tenant = uuid::Uuid::parse_str("0192F2A0-0000-7000-8000-000000000001").unwrap();
        assert_eq!(
            tenant_inbound_token("sim-sms-inbound-secret", tenant),
            "2aa3927baf95b8eb2fa18c727affdbd026da1a726638929c2c06215838c0bc03"
        );
    }

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("abc", ""));
    }
}
