//! Collecting every failing field of a request, so one answer names them all.

use attend_runtime::Problem;

/// Failing fields found so far, in the order they were found.
#[derive(Debug, Default)]
pub struct Issues {
    fields: Vec<(String, String)>,
}

impl Issues {
    /// Records that `field` (a dotted path such as `booker.phone`) failed with `message`.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.fields.push((field.into(), message.into()));
    }

    /// Returns how many fields failed so far.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Returns whether nothing failed.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Returns the failing fields with their messages, in order.
    pub fn into_fields(self) -> Vec<(String, String)> {
        self.fields
    }

    /// Returns a 422 problem naming every failing field, or `None` when nothing failed.
    pub fn into_problem(self) -> Option<Problem> {
        let mut fields = self.fields.into_iter();
        let (field, message) = fields.next()?;
        let mut problem = Problem::invalid_field(field, message);
        for (field, message) in fields {
            problem = problem.with_field(field, message);
        }
        Some(problem)
    }

    /// Returns `Ok(())` when nothing failed, else the problem naming every failing field.
    pub fn finish(self) -> Result<(), Problem> {
        match self.into_problem() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// Returns whether `tag` looks like a BCP 47 language tag (`en`, `de-DE`, `pt_BR`).
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split(['-', '_']);
    let Some(language) = parts.next() else {
        return false;
    };
    (2..=3).contains(&language.len())
        && language.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|part| {
            (2..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_issue_is_kept_in_order() {
        let mut issues = Issues::default();
        assert!(issues.is_empty());
        issues.add("a", "bad");
        issues.add("b.c", "worse");
        let problem = issues.finish().unwrap_err();
        assert_eq!(problem.status, 422);
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["a", "b.c"]);
    }

    #[test]
    fn language_tags_are_checked() {
        assert!(is_language_tag("en"));
        assert!(is_language_tag("de-DE"));
        assert!(is_language_tag("pt_BR"));
        assert!(!is_language_tag("english please"));
        assert!(!is_language_tag("e"));
    }
}
