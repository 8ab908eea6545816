//! Text templates with `{placeholder}`s.
//!
//! - A placeholder is a name between braces: `{business}`. Names are what the caller allows
//!   (see `sms::placeholders`); nothing else is ever substituted.
//! - `{{` and `}}` write a literal `{` and `}`.
//! - A lone `}`, a `{` without its `}`, a `{` inside a placeholder and an empty `{}` are
//!   errors naming the 1-based character position of the offending brace.
//! - Values are inserted as they are: a value's braces are never read as placeholders.

use std::collections::BTreeMap;

/// What is wrong with a template, with the 1-based character position of the brace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{name}` that is not allowed here (or has no value when rendering).
    #[error("unknown placeholder {{{name}}} at character {position}")]
    UnknownPlaceholder {
        /// The name between the braces.
        name: String,
        /// The 1-based character position of its `{`.
        position: usize,
    },
    /// A `{` without its closing `}` (or another `{` before it).
    #[error("unclosed `{{` at character {position} (write `{{{{` for a literal brace)")]
    UnclosedBrace {
        /// The 1-based character position of the `{`.
        position: usize,
    },
    /// A `}` without its opening `{`.
    #[error("unmatched `}}` at character {position} (write `}}}}` for a literal brace)")]
    UnmatchedBrace {
        /// The 1-based character position of the `}`.
        position: usize,
    },
    /// `{}` with no name.
    #[error("empty placeholder `{{}}` at character {position}")]
    EmptyPlaceholder {
        /// The 1-based character position of its `{`.
        position: usize,
    },
}

/// The values of a template's placeholders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Variables {
    values: BTreeMap<String, String>,
}

impl Variables {
    /// Returns an empty set of values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns these values with `name` set to `value`.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }

    /// Returns the value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Returns the names that have a value, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'a> {
    /// Literal text (already unescaped when it is a brace).
    Text(&'a str),
    /// A placeholder's name and the 1-based position of its `{`.
    Placeholder(&'a str, usize),
}

/// Splits `text` into literal pieces and placeholders, or returns the first brace error.
fn parse(text: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut pieces = Vec::new();
    let mut characters = text.char_indices().enumerate().peekable();
    let mut literal_start = 0;
    while let Some((index, (byte, character))) = characters.next() {
        match character {
            '{' | '}' if characters.peek().map(|(_, (_, next))| *next) == Some(character) => {
                // An escaped brace: keep the text so far plus one brace, skip the other.
                pieces.push(Piece::Text(&text[literal_start..byte + 1]));
                characters.next();
                literal_start = byte + 2;
            }
            '}' => {
                return Err(TemplateError::UnmatchedBrace {
                    position: index + 1,
                });
            }
            '{' => {
                pieces.push(Piece::Text(&text[literal_start..byte]));
                let name_start = byte + 1;
                let name_end = loop {
                    match characters.next() {
                        Some((_, (end, '}'))) => break end,
                        Some((_, (_, '{'))) | None => {
                            return Err(TemplateError::UnclosedBrace {
                                position: index + 1,
                            });
                        }
                        Some(_) => {}
                    }
                };
                let name = &text[name_start..name_end];
                if name.is_empty() {
                    return Err(TemplateError::EmptyPlaceholder {
                        position: index + 1,
                    });
                }
                pieces.push(Piece::Placeholder(name, index + 1));
                literal_start = name_end + 1;
            }
            _ => {}
        }
    }
    pieces.push(Piece::Text(&text[literal_start..]));
    pieces.retain(|piece| *piece != Piece::Text(""));
    Ok(pieces)
}

/// Checks that `text`'s braces pair up and every placeholder is one of `allowed`.
pub fn validate(text: &str, allowed: &[&str]) -> Result<(), TemplateError> {
    validate_with(text, |name| allowed.contains(&name))
}

/// Checks that `text`'s braces pair up and `is_allowed` accepts every placeholder: for
/// families of names such as `{metadata.key}` that no fixed list can hold.
pub fn validate_with(text: &str, is_allowed: impl Fn(&str) -> bool) -> Result<(), TemplateError> {
    for piece in parse(text)? {
        if let Piece::Placeholder(name, position) = piece
            && !is_allowed(name)
        {
            return Err(TemplateError::UnknownPlaceholder {
                name: name.to_owned(),
                position,
            });
        }
    }
    Ok(())
}

/// Returns `text` with each `{name}` replaced by its value and `{{`/`}}` by a brace; a
/// placeholder without a value is an error.
pub fn render(text: &str, vars: &Variables) -> Result<String, TemplateError> {
    let mut rendered = String::with_capacity(text.len());
    for piece in parse(text)? {
        match piece {
            Piece::Text(literal) => rendered.push_str(literal),
            Piece::Placeholder(name, position) => match vars.get(name) {
                Some(value) => rendered.push_str(value),
                None => {
                    return Err(TemplateError::UnknownPlaceholder {
                        name: name.to_owned(),
                        position,
                    });
                }
            },
        }
    }
    Ok(rendered)
}

/// Returns the placeholder names `text` uses, in order of first use, or its brace error.
pub fn placeholders(text: &str) -> Result<Vec<&str>, TemplateError> {
    let mut names: Vec<&str> = Vec::new();
    for piece in parse(text)? {
        if let Piece::Placeholder(name, _) = piece
            && !names.contains(&name)
        {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Variables {
        Variables::new()
            .with("business", "Clinic")
            .with("name", "Zoë")
            .with("weird", "{name}")
    }

    #[test]
    fn renders_placeholders_and_escapes() {
        let cases = [
            ("[{business}] Hi {name}", "[Clinic] Hi Zoë"),
            ("{business}{name}", "ClinicZoë"),
            ("no placeholders", "no placeholders"),
            ("", ""),
            ("{{literal}} {business}", "{literal} Clinic"),
            ("{{{business}}}", "{Clinic}"),
            ("a }} b {{ c", "a } b { c"),
            ("{weird}", "{name}"),
            ("é{name}é", "éZoëé"),
        ];
        for (text, expected) in cases {
            assert_eq!(render(text, &vars()).as_deref(), Ok(expected), "{text}");
            assert_eq!(
                validate(text, &["business", "name", "weird"]),
                Ok(()),
                "{text}"
            );
        }
    }

    #[test]
    fn errors_name_the_placeholder_or_brace_and_its_position() {
        let cases = [
            (
                "Hi {firstname}",
                TemplateError::UnknownPlaceholder {
                    name: "firstname".to_owned(),
                    position: 4,
                },
            ),
            ("Hi {name", TemplateError::UnclosedBrace { position: 4 }),
            ("Hi {na{me}", TemplateError::UnclosedBrace { position: 4 }),
            ("Hi name}", TemplateError::UnmatchedBrace { position: 8 }),
            ("é}", TemplateError::UnmatchedBrace { position: 2 }),
            ("ab{}", TemplateError::EmptyPlaceholder { position: 3 }),
            ("{{{", TemplateError::UnclosedBrace { position: 3 }),
            ("}}}", TemplateError::UnmatchedBrace { position: 3 }),
        ];
        for (text, expected) in cases {
            assert_eq!(validate(text, &["name"]), Err(expected.clone()), "{text}");
            assert_eq!(render(text, &vars()).err(), Some(expected), "{text}");
        }
    }

    #[test]
    fn validate_allows_only_the_listed_names_and_render_needs_a_value() {
        assert!(validate("{business}", &["name"]).is_err());
        assert_eq!(
            render("x {missing}", &vars()),
            Err(TemplateError::UnknownPlaceholder {
                name: "missing".to_owned(),
                position: 3
            })
        );
        assert_eq!(placeholders("{a} {b} {a} {{c}}"), Ok(vec!["a", "b"]));
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(
            TemplateError::UnknownPlaceholder {
                name: "x".to_owned(),
                position: 5
            }
            .to_string(),
            "unknown placeholder {x} at character 5"
        );
        assert_eq!(
            TemplateError::UnclosedBrace { position: 2 }.to_string(),
            "unclosed `{` at character 2 (write `{{` for a literal brace)"
        );
        assert_eq!(
            TemplateError::UnmatchedBrace { position: 2 }.to_string(),
            "unmatched `}` at character 2 (write `}}` for a literal brace)"
        );
    }

    #[test]
    fn variables_keep_the_last_value() {
        let mut values = Variables::new().with("a", "1");
        values.set("a", "2");
        assert_eq!(values.get("a"), Some("2"));
        assert_eq!(values.names().collect::<Vec<_>>(), ["a"]);
    }
}
