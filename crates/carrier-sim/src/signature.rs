//! Vobiz webhook signatures (V2 and V3), as the real carrier computes them.
//!
//! V2 = base64(HMAC-SHA256(auth_token, base_url + nonce)) and
//! V3 = base64(HMAC-SHA256(auth_token, base_url + "." + nonce)), where `base_url` is the
//! request URL without its query string (and fragment), and the nonce is a random 20-digit
//! number. POST parameters are not signed (carriers.md 1.5).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use reqwest::Url;
use sha2::Sha256;

/// Header carrying the V3 signature.
pub const HEADER_V3: &str = "X-Vobiz-Signature-V3";
/// Header carrying the nonce signed by the V3 signature.
pub const HEADER_V3_NONCE: &str = "X-Vobiz-Signature-V3-Nonce";
/// Header carrying the V2 signature.
pub const HEADER_V2: &str = "X-Vobiz-Signature-V2";
/// Header carrying the nonce signed by the V2 signature.
pub const HEADER_V2_NONCE: &str = "X-Vobiz-Signature-V2-Nonce";

/// Number of digits in a nonce.
pub const NONCE_DIGITS: usize = 20;

/// The signature headers for one webhook request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// The nonce both signatures were computed with.
    pub nonce: String,
    /// Value of `X-Vobiz-Signature-V2`.
    pub v2: String,
    /// Value of `X-Vobiz-Signature-V3`.
    pub v3: String,
}

impl SignatureHeaders {
    /// Returns the headers as `(name, value)` pairs, ready to add to a request.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            (HEADER_V3, &self.v3),
            (HEADER_V3_NONCE, &self.nonce),
            (HEADER_V2, &self.v2),
            (HEADER_V2_NONCE, &self.nonce),
        ]
    }
}

/// Signs a request to `url` with a fresh random nonce.
pub fn sign(auth_token: &str, url: &Url) -> SignatureHeaders {
    sign_with_nonce(auth_token, url, generate_nonce())
}

/// Signs a request to `url` with the given nonce (deterministic; used by `sign` and tests).
pub fn sign_with_nonce(auth_token: &str, url: &Url, nonce: String) -> SignatureHeaders {
    let base = base_url(url);
    SignatureHeaders {
        v2: signature_v2(auth_token, &base, &nonce),
        v3: signature_v3(auth_token, &base, &nonce),
        nonce,
    }
}

/// Returns `url` as signed by Vobiz: `scheme://host[:port]/path`, without query or fragment.
pub fn base_url(url: &Url) -> String {
    let mut base = url.clone();
    base.set_query(None);
    base.set_fragment(None);
    base.to_string()
}

/// Computes the V3 signature: base64(HMAC-SHA256(auth_token, base_url + "." + nonce)).
pub fn signature_v3(auth_token: &str, base_url: &str, nonce: &str) -> String {
    hmac_sha256_base64(auth_token, &[base_url, ".", nonce])
}

/// Computes the V2 signature: base64(HMAC-SHA256(auth_token, base_url + nonce)).
pub fn signature_v2(auth_token: &str, base_url: &str, nonce: &str) -> String {
    hmac_sha256_base64(auth_token, &[base_url, nonce])
}

/// Returns a random 20-digit decimal nonce (the first digit is never 0).
pub fn generate_nonce() -> String {
    let mut rng = rand::rng();
    let mut nonce = String::with_capacity(NONCE_DIGITS);
    nonce.push(char::from(b'0' + rng.random_range(1..=9u8)));
    while nonce.len() < NONCE_DIGITS {
        nonce.push(char::from(b'0' + rng.random_range(0..=9u8)));
    }
    nonce
}

fn hmac_sha256_base64(key: &str, message_parts: &[&str]) -> String {
    #[expect(
        clippy::expect_used,
        reason = "HMAC accepts keys of any length, so new_from_slice cannot fail"
    )]
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("hmac accepts keys of any length");
    for part in message_parts {
        mac.update(part.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values computed independently with:
    // python3 -c 'import hmac,hashlib,base64; tok=b"sim-token";
    //   url="http://127.0.0.1:8080/voice/answer"; nonce="12345678901234567890";
    //   print(base64.b64encode(hmac.new(tok,(url+"."+nonce).encode(),hashlib.sha256).digest()).decode());
    //   print(base64.b64encode(hmac.new(tok,(url+nonce).encode(),hashlib.sha256).digest()).decode())'
    const EXPECTED_V3: &str = "wJ8W2jEPnv5H61VjeNHNigPl5WdG+yWj0UkZ4QiWbX4=";
    const EXPECTED_V2: &str = "SUlr5B1rSyO6LOaSxWiE3dogE0dk7euUZAZAfx2FfZY=";

    #[test]
    fn v3_matches_an_independently_computed_vector() {
        let signature = signature_v3(
            "sim-token",
            "http://127.0.0.1:8080/voice/answer",
            "12345678901234567890",
        );
        assert_eq!(signature, EXPECTED_V3);
    }

    #[test]
    fn v2_matches_an_independently_computed_vector() {
        let signature = signature_v2(
            "sim-token",
            "http://127.0.0.1:8080/voice/answer",
            "12345678901234567890",
        );
        assert_eq!(signature, EXPECTED_V2);
    }

    #[test]
    fn the_query_string_and_fragment_are_not_signed() {
        let url = Url::parse("http://127.0.0.1:8080/voice/answer?attempt=2#ct=2000").unwrap();
        assert_eq!(base_url(&url), "http://127.0.0.1:8080/voice/answer");
        let headers = sign_with_nonce("sim-token", &url, "12345678901234567890".to_owned());
        assert_eq!(headers.v3, EXPECTED_V3);
        assert_eq!(headers.v2, EXPECTED_V2);
    }

    #[test]
    fn nonces_are_twenty_digits_and_vary() {
        let first = generate_nonce();
        let second = generate_nonce();
        for nonce in [&first, &second] {
            assert_eq!(nonce.len(), NONCE_DIGITS);
            assert!(nonce.chars().all(|character| character.is_ascii_digit()));
            assert!(!nonce.starts_with('0'));
        }
        assert_ne!(first, second);
    }
}
