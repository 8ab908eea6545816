//! Phone numbers never reach the logs in clear: all but their last two digits are masked.

/// Returns `number` with every digit but the last two replaced by `*`.
pub fn number(number: &str) -> String {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    number
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen + 2 > digits { c } else { '*' }
        })
        .collect()
}

/// Returns `text` with every run of five or more digits masked like a phone number, for
/// free text (carrier error bodies) that might quote one.
pub fn digits_in(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, masked: &mut String| {
        if run.len() >= 5 {
            masked.push_str(&number(run));
        } else {
            masked.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut run, &mut masked);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_only_their_last_two_digits() {
        assert_eq!(number("+15550100001"), "+*********01");
        assert_eq!(number("12"), "12");
        assert_eq!(number(""), "");
    }

    #[test]
    fn long_digit_runs_in_text_are_masked() {
        assert_eq!(
            digits_in("invalid to +15550100001 (code 400)"),
            "invalid to +*********01 (code 400)"
        );
    }
}
