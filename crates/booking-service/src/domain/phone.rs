//! Phone numbers: parsed with libphonenumber's rules and stored in E.164.

/// Returns the E.164 form of `raw`, read with `default_region` when it has no country code,
/// or a message saying why it is not a valid number.
pub fn normalize_e164(raw: &str, default_region: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".to_owned());
    }
    let region = default_region
        .parse::<phonenumber::country::Id>()
        .map_err(|_| {
            format!("the tenant's default region {default_region:?} is not a country code")
        })?;
    let number = phonenumber::parse(Some(region), trimmed)
        .map_err(|_| "is not a phone number".to_owned())?;
    if !phonenumber::is_valid(&number) {
        return Err("is not a valid phone number for its country".to_owned());
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Returns `e164` with all but its last two digits hidden, for logs.
pub fn mask(e164: &str) -> String {
    let visible: String = e164
        .chars()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("+***{visible}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_numbers_take_the_default_region() {
        assert_eq!(
            normalize_e164("(201) 555-0123", "US").unwrap(),
            "+12015550123"
        );
        assert_eq!(
            normalize_e164("020 7946 0018", "GB").unwrap(),
            "+442079460018"
        );
    }

    #[test]
    fn international_numbers_keep_their_country() {
        assert_eq!(
            normalize_e164("+49 30 901820", "US").unwrap(),
            "+4930901820"
        );
    }

    #[test]
    fn garbage_and_impossible_numbers_are_rejected() {
        assert!(normalize_e164("hello world", "US").is_err());
        assert!(normalize_e164("+1 000 000 0000", "US").is_err());
        assert!(normalize_e164("", "US").is_err());
    }

    #[test]
    fn masking_keeps_only_the_last_two_digits() {
        assert_eq!(mask("+12015550123"), "+***23");
    }
}
