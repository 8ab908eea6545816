//! What carrier adapters say about a failed request, safe for logs and outcome details: the
//! innermost cause of a transport error, and a short excerpt of a carrier's answer with every
//! phone-number-like digit run masked (carriers quote the number they refused).

use crate::mask;

/// Returns the innermost source of `error` (reqwest wraps the useful part several levels deep).
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Returns at most `max_chars` characters of `text`, trimmed, with digit runs masked.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let end = text
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(index, _)| index);
    mask::digits_in(&text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_short_trimmed_and_masked() {
        assert_eq!(excerpt("  héllo  ", 2), "hé");
        assert_eq!(excerpt("hi", 10), "hi");
        assert_eq!(
            excerpt("The 'To' number +15550100001 is not valid (21211)", 200),
            "The 'To' number +*********01 is not valid (***11)"
        );
    }

    #[derive(Debug)]
    struct Wrapped(std::io::Error);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("error sending request")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_root_cause_is_the_innermost_error() {
        let wrapped = Wrapped(std::io::Error::other("connection refused"));
        assert_eq!(wrapped.to_string(), "error sending request");
        assert_eq!(root_cause(&wrapped), "connection refused");
    }
}
