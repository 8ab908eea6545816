//! Query strings of the catalog lists: cursor pagination and filters, read parameter by
//! parameter so that every bad value is a 422 naming it.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use serde::Serialize;
use uuid::Uuid;

use attend_runtime::Problem;

use crate::domain::catalog::parse_date;
use crate::domain::validation::Issues;

/// Items per page when the query does not say.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most items one page may hold.
pub const MAX_LIMIT: i64 = 200;

/// The parameters of a list request not read yet, and what failed so far.
///
/// Every reader removes its parameter; [`ListQuery::page`] and [`ListQuery::finish`] refuse
/// whatever is left, so a misspelt filter is an error rather than an unfiltered list.
#[derive(Debug)]
pub struct ListQuery {
    params: HashMap<String, String>,
    issues: Issues,
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items per page.
    pub limit: i64,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
}

/// One page of a list, as the API answers it.
#[derive(Debug, Serialize)]
pub struct PageResponse<T> {
    /// The items, in creation order.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

impl ListQuery {
    /// Wraps the query string's parameters. An empty value counts as absent.
    pub fn new(params: HashMap<String, String>) -> Self {
        Self {
            params: params
                .into_iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .collect(),
            issues: Issues::default(),
        }
    }

    /// Returns parameter `name` trimmed, when given.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.params
            .remove(name)
            .map(|value| value.trim().to_owned())
    }

    /// Returns parameter `name` as an id, when given; a malformed one is an issue.
    pub fn uuid(&mut self, name: &str) -> Option<Uuid> {
        let value = self.text(name)?;
        value
            .parse::<Uuid>()
            .map_err(|_| self.issues.add(name, "must be a UUID"))
            .ok()
    }

    /// Returns parameter `name` as a `YYYY-MM-DD` date, when given; a malformed one is an
    /// issue.
    pub fn date(&mut self, name: &str) -> Option<NaiveDate> {
        let value = self.text(name)?;
        parse_date(&value)
            .map_err(|message| self.issues.add(name, message))
            .ok()
    }

    /// Records that parameter `name` failed with `message`.
    pub fn issue(&mut self, name: &str, message: impl Into<String>) {
        self.issues.add(name, message);
    }

    /// Reads `limit` and `cursor`; returns the page, or the problem naming every bad or
    /// unknown parameter.
    pub fn page(mut self) -> Result<Page, Problem> {
        let limit = match self.text("limit") {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<i64>() {
                Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => limit,
                _ => {
                    self.issues.add(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    );
                    DEFAULT_LIMIT
                }
            },
        };
        let after = self.text("cursor").and_then(|text| {
            let after = decode_cursor(&text);
            if after.is_none() {
                self.issues
                    .add("cursor", "is not a next_cursor returned by this list");
            }
            after
        });
        self.finish()?;
        Ok(Page { limit, after })
    }

    /// Returns the problem naming every bad or unknown parameter, if any.
    pub fn finish(mut self) -> Result<(), Problem> {
        let mut unknown: Vec<String> = self.params.into_keys().collect();
        unknown.sort();
        for name in unknown {
            self.issues.add(name, "is not a parameter of this list");
        }
        self.issues.finish()
    }
}

impl Page {
    /// Returns how many rows to fetch: one more than the page, to learn whether another
    /// page follows without counting.
    pub fn fetch_limit(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the fetched `rows` to the page and returns them with the cursor of the next page.
    pub fn cut<R>(&self, mut rows: Vec<R>, id: impl Fn(&R) -> Uuid) -> (Vec<R>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next_cursor = rows.last().map(|row| encode_cursor(id(row)));
        (rows, next_cursor)
    }
}

/// Returns the opaque cursor after `id`: its 16 bytes in URL-safe base64.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

/// Reads a cursor back into the id it continues after; `None` when it is not a cursor.
pub fn decode_cursor(text: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    Uuid::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> ListQuery {
        ListQuery::new(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn cursors_round_trip() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)), Some(id));
        assert_eq!(decode_cursor("nope!"), None);
        assert_eq!(decode_cursor("AAAA"), None);
    }

    #[test]
    fn defaults_apply_and_bad_values_are_named() {
        assert_eq!(
            query(&[]).page().unwrap(),
            Page {
                limit: DEFAULT_LIMIT,
                after: None
            }
        );
        let problem = query(&[("limit", "0"), ("cursor", "x"), ("colour", "red")])
            .page()
            .unwrap_err();
        let fields: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["limit", "cursor", "colour"]);
    }

    #[test]
    fn a_page_is_cut_with_the_cursor_of_its_last_item() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = Page {
            limit: 2,
            after: None,
        };
        let (items, next) = page.cut(ids.clone(), |id| *id);
        assert_eq!(items, ids[..2]);
        assert_eq!(next, Some(encode_cursor(ids[1])));
        let (items, next) = page.cut(ids[..2].to_vec(), |id| *id);
        assert_eq!(items.len(), 2);
        assert_eq!(next, None);
    }
}
