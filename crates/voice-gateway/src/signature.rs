//! Vobiz webhook signatures, V3: `base64(HMAC-SHA256(auth_token, base_url + "." + nonce))`,
//! where `base_url` is the requested URL without its query string and the POST parameters are
//! not signed (carriers.md 1.5). The header may hold several comma-separated signatures (one
//! per token during a rotation); one match is enough.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the V3 signature(s).
pub const HEADER_V3: &str = "X-Vobiz-Signature-V3";
/// The header carrying the nonce the V3 signature covers.
pub const HEADER_V3_NONCE: &str = "X-Vobiz-Signature-V3-Nonce";

/// The longest nonce accepted (Vobiz sends 20 digits); bounds what the replay table stores.
const MAX_NONCE_LENGTH: usize = 64;

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature or nonce header is absent or empty.
    #[error("the request is not signed")]
    Missing,
    /// The nonce is not a short alphanumeric string.
    #[error("the signature nonce is malformed")]
    MalformedNonce,
    /// No signature in the header matches.
    #[error("the signature does not match")]
    Mismatch,
}

/// Returns the V3 signature of a request to `base_url` with `nonce`.
pub fn sign_v3(auth_token: &str, base_url: &str, nonce: &str) -> String {
    BASE64.encode(digest_v3(auth_token, base_url, nonce))
}

/// Checks `signatures` (the V3 header, possibly comma-separated) for a request to `base_url`
/// (query removed) with `nonce`. Comparison is constant-time per candidate.
pub fn verify_v3(
    auth_token: &str,
    base_url: &str,
    nonce: Option<&str>,
    signatures: Option<&str>,
) -> Result<(), SignatureError> {
    let nonce = nonce.map(str::trim).filter(|nonce| !nonce.is_empty());
    let signatures = signatures.map(str::trim).filter(|value| !value.is_empty());
    let (Some(nonce), Some(signatures)) = (nonce, signatures) else {
        return Err(SignatureError::Missing);
    };
    let nonce_is_plain =
        nonce.len() <= MAX_NONCE_LENGTH && nonce.chars().all(|c| c.is_ascii_alphanumeric());
    if !nonce_is_plain {
        return Err(SignatureError::MalformedNonce);
    }
    let expected = digest_v3(auth_token, base_url, nonce);
    let mut matched = subtle::Choice::from(0);
    for candidate in signatures.split(',') {
        // A candidate that is not base64 cannot match; decoding failures are not secret.
        if let Ok(decoded) = BASE64.decode(candidate.trim()) {
            matched |= decoded.as_slice().ct_eq(expected.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn digest_v3(auth_token: &str, base_url: &str, nonce: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this never falls back; the fallback keeps the code
    // free of panics and yields a digest no signature can match.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(auth_token.as_bytes()) else {
        return Vec::new();
    };
    mac.update(base_url.as_bytes());
    mac.update(b".");
    mac.update(nonce.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://127.0.0.1:8082/voice/answer";
    const NONCE: &str = "98765432109876543210";
    // Computed independently:
    // python3 -c 'import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    //   b"sim-token", b"http://127.0.0.1:8082/voice/answer.98765432109876543210",
    //   hashlib.sha256).digest()).decode())'
    const EXPECTED: &str = "mF+o9vzXE1XlfEz0ETOKX/4idZQKGLyPoHy/3OCjpDE=";
    // The same with the key b"other-token".
    const OTHER_TOKEN: &str = "275qWp2awCaDVpGEuw3i4OFIArs4ASNboyVG5NJW0TA=";

    #[test]
    fn signs_like_an_independent_implementation() {
        assert_eq!(sign_v3("sim-token", URL, NONCE), EXPECTED);
        assert_eq!(sign_v3("other-token", URL, NONCE), OTHER_TOKEN);
    }

    #[test]
    fn a_matching_signature_is_accepted() {
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some(EXPECTED)),
            Ok(())
        );
    }

    #[test]
    fn any_one_of_several_signatures_may_match() {
        let header = format!("{OTHER_TOKEN}, {EXPECTED}");
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some(&header)),
            Ok(())
        );
        let header = format!("{EXPECTED},{OTHER_TOKEN}");
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some(&header)),
            Ok(())
        );
    }

    #[test]
    fn a_signature_by_another_token_is_refused() {
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some(OTHER_TOKEN)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn another_url_or_nonce_does_not_match() {
        let other_url = "http://127.0.0.1:8082/voice/hangup";
        assert_eq!(
            verify_v3("sim-token", other_url, Some(NONCE), Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v3(
                "sim-token",
                URL,
                Some("98765432109876543211"),
                Some(EXPECTED)
            ),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn missing_headers_and_garbage_are_refused() {
        assert_eq!(
            verify_v3("sim-token", URL, None, Some(EXPECTED)),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some(" ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_v3("sim-token", URL, Some(NONCE), Some("not base64!")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_v3("sim-token", URL, Some("1234; DROP"), Some(EXPECTED)),
            Err(SignatureError::MalformedNonce)
        );
    }
}
