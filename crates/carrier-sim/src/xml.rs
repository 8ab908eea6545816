//! Parses call-flow XML (Vobiz/Plivo `<Response>` documents) into a small tree of verbs.
//!
//! Parsing is done with quick-xml in two steps: first a generic element tree (so nesting,
//! entities and CDATA are handled once), then a typed `Verb` tree that enforces the carrier's
//! rules (carriers.md 2.1–2.3): absolute callback URLs, `executionTimeout` 5–60, which elements
//! may nest in a Gather, and so on.

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;
use reqwest::Url;

use crate::webhook::{HttpMethod, UrlError, parse_http_url};

/// Deepest element nesting accepted; real documents are 3–4 levels deep.
const MAX_DEPTH: usize = 32;

/// Valid Vobiz/Plivo elements that the sim records and skips instead of acting out.
const UNSIMULATED_VERBS: &[&str] = &[
    "Conference",
    "Dial",
    "DTMF",
    "Message",
    "PreAnswer",
    "Record",
    "Stream",
];

/// Why a document was rejected; the carrier would end the call with an application error.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// The document is not well-formed XML.
    #[error("malformed xml: {0}")]
    Syntax(#[from] quick_xml::Error),
    /// The document's bytes could not be decoded.
    #[error("malformed xml: {0}")]
    Encoding(#[from] quick_xml::encoding::EncodingError),
    /// An entity other than the five predefined ones or a character reference was used.
    #[error("unknown entity &{0};")]
    UnknownEntity(String),
    /// The document has no root element.
    #[error("the document has no root element")]
    Empty,
    /// A tag was left open at the end of the document.
    #[error("element <{0}> is never closed")]
    Unclosed(String),
    /// Something other than whitespace or comments follows the root element.
    #[error("content after the root element")]
    TrailingContent,
    /// The root element is not `<Response>`.
    #[error("the root element must be <Response>, found <{0}>")]
    NotResponse(String),
    /// Elements are nested deeper than `MAX_DEPTH`.
    #[error("elements are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// An element the carrier does not know.
    #[error("unknown element <{0}>")]
    UnknownElement(String),
    /// A known element in a place where it is not allowed.
    #[error("<{child}> is not allowed inside <{parent}>")]
    NotAllowedIn {
        /// The misplaced element.
        child: String,
        /// The element it was found in.
        parent: String,
    },
    /// Text where only elements are allowed.
    #[error("unexpected text inside <{0}>")]
    UnexpectedText(String),
    /// A required attribute is missing.
    #[error("<{element}> needs a {attribute} attribute")]
    MissingAttribute {
        /// The element.
        element: String,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// An attribute has a value the carrier rejects.
    #[error("<{element}> {attribute}={value:?}: {reason}")]
    InvalidAttribute {
        /// The element.
        element: String,
        /// The attribute's name.
        attribute: &'static str,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        reason: &'static str,
    },
    /// A callback URL is missing, relative or not http(s).
    #[error("<{element}> url: {source}")]
    InvalidUrl {
        /// The element holding the URL.
        element: String,
        /// Why the URL was refused.
        #[source]
        source: UrlError,
    },
}

/// A parsed `<Response>` document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The verbs in document order.
    pub verbs: Vec<Verb>,
}

/// One instruction of a call flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// Text to speech.
    Speak(Speak),
    /// An audio file.
    Play(Play),
    /// Silence.
    Wait(Wait),
    /// Collect keypresses (`Gather`, or Plivo's `GetInput`/`GetDigits`).
    Gather(Gather),
    /// Fetch a new document and continue there.
    Redirect(Redirect),
    /// End the call.
    Hangup(Hangup),
    /// A valid element the sim does not act out (`Dial`, `Record`, …); it is recorded and skipped.
    Unsimulated(String),
}

/// A `<Speak>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speak {
    /// The text, entities resolved, SSML tags dropped and whitespace runs collapsed.
    pub text: String,
    /// The `voice` attribute as written (the carrier defaults to `WOMAN`).
    pub voice: Option<String>,
    /// The `language` attribute as written (the carrier defaults to `en-US`).
    pub language: Option<String>,
    /// The `loop` attribute (0 = forever); 1 when absent.
    pub loop_count: u32,
}

/// A `<Play>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    /// The audio URL, as written.
    pub url: String,
    /// The `loop` attribute; 1 when absent.
    pub loop_count: u32,
}

/// A `<Wait>` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The `length` attribute in seconds; 1 when absent.
    pub length_seconds: u32,
}

/// A `<Gather>`, `<GetInput>` or `<GetDigits>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Gather {
    /// The element name as written.
    pub element: String,
    /// Where the input is sent.
    pub action: Url,
    /// How the input is sent.
    pub method: HttpMethod,
    /// `dtmf`, `speech` or `dtmf speech`, if given.
    pub input_type: Option<String>,
    /// Largest number of keys collected, if limited.
    pub num_digits: Option<u32>,
    /// Seconds the carrier would wait for input (`executionTimeout`, or `timeout` for GetDigits).
    pub execution_timeout_seconds: u32,
    /// The key that ends input (excluded from `Digits`); `None` when disabled.
    pub finish_on_key: Option<char>,
    /// Whether the document returned by `action` replaces the current one (`redirect`, default true).
    pub redirect: bool,
    /// Speak, Play and Wait elements played while waiting for input.
    pub prompts: Vec<Verb>,
}

/// A `<Redirect>` element.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The absolute URL to fetch.
    pub url: Url,
    /// How to fetch it.
    pub method: HttpMethod,
}

/// A `<Hangup>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hangup {
    /// The `reason` attribute (`rejected`, `busy`), if given.
    pub reason: Option<String>,
}

/// Parses a call-flow document.
pub fn parse_document(xml: &str) -> Result<Document, XmlError> {
    let root = parse_tree(xml)?;
    if root.name != "Response" {
        return Err(XmlError::NotResponse(root.name));
    }
    let mut verbs = Vec::new();
    for node in root.children {
        match node {
            Node::Text(text) => reject_text(&text, "Response")?,
            Node::Element(element) => verbs.push(verb_from(element)?),
        }
    }
    Ok(Document { verbs })
}

/// A generic element: what quick-xml read, before any carrier rule is applied.
#[derive(Debug)]
struct RawElement {
    name: String,
    attributes: Vec<(String, String)>,
    children: Vec<Node>,
}

#[derive(Debug)]
enum Node {
    Element(RawElement),
    Text(String),
}

impl RawElement {
    fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Returns all text below this element, entities resolved, with whitespace runs collapsed.
    fn collapsed_text(&self) -> String {
        let mut raw = String::new();
        collect_text(&self.children, &mut raw);
        raw.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn collect_text(nodes: &[Node], into: &mut String) {
    for node in nodes {
        match node {
            Node::Text(text) => into.push_str(text),
            Node::Element(element) => {
                // SSML tags such as <break/> separate words even when written without spaces.
                into.push(' ');
                collect_text(&element.children, into);
                into.push(' ');
            }
        }
    }
}

fn parse_tree(xml: &str) -> Result<RawElement, XmlError> {
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<RawElement> = Vec::new();
    let mut root: Option<RawElement> = None;

    loop {
        match reader.read_event()? {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                open.push(raw_element(&start)?);
            }
            Event::Empty(start) => {
                let element = raw_element(&start)?;
                attach(&mut open, &mut root, element)?;
            }
            Event::End(_) => {
                // quick-xml already checked that the end tag matches the open one.
                if let Some(element) = open.pop() {
                    attach(&mut open, &mut root, element)?;
                }
            }
            Event::Text(text) => push_text(&mut open, &text.xml10_content()?)?,
            Event::CData(cdata) => push_text(&mut open, &cdata.xml10_content()?)?,
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref()? {
                    Some(character) => character.to_string(),
                    None => {
                        let name = reference.decode()?;
                        match resolve_predefined_entity(&name) {
                            Some(text) => text.to_owned(),
                            None => return Err(XmlError::UnknownEntity(name.into_owned())),
                        }
                    }
                };
                push_text(&mut open, &resolved)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }

    if let Some(unclosed) = open.pop() {
        return Err(XmlError::Unclosed(unclosed.name));
    }
    root.ok_or(XmlError::Empty)
}

fn raw_element(start: &BytesStart<'_>) -> Result<RawElement, XmlError> {
    let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(quick_xml::Error::from)?;
        let key = String::from_utf8_lossy(attribute.key.local_name().as_ref()).into_owned();
        let value = attribute
            .normalized_value(XmlVersion::Implicit1_0)?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(RawElement {
        name,
        attributes,
        children: Vec::new(),
    })
}

fn attach(
    open: &mut [RawElement],
    root: &mut Option<RawElement>,
    element: RawElement,
) -> Result<(), XmlError> {
    if let Some(parent) = open.last_mut() {
        parent.children.push(Node::Element(element));
        return Ok(());
    }
    if root.is_some() {
        return Err(XmlError::TrailingContent);
    }
    *root = Some(element);
    Ok(())
}

fn push_text(open: &mut [RawElement], text: &str) -> Result<(), XmlError> {
    let Some(parent) = open.last_mut() else {
        // Outside the root only whitespace (between the declaration and the root) is allowed.
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(XmlError::TrailingContent);
    };
    // Entities arrive as separate events; merge them into the surrounding text.
    if let Some(Node::Text(previous)) = parent.children.last_mut() {
        previous.push_str(text);
    } else {
        parent.children.push(Node::Text(text.to_owned()));
    }
    Ok(())
}

fn reject_text(text: &str, parent: &str) -> Result<(), XmlError> {
    if text.trim().is_empty() {
        Ok(())
    } else {
        Err(XmlError::UnexpectedText(parent.to_owned()))
    }
}

fn verb_from(element: RawElement) -> Result<Verb, XmlError> {
    match element.name.as_str() {
        "Speak" => Ok(Verb::Speak(speak_from(&element)?)),
        "Play" => Ok(Verb::Play(play_from(&element)?)),
        "Wait" => Ok(Verb::Wait(Wait {
            length_seconds: optional_number(&element, "length", 1..=u32::MAX)?.unwrap_or(1),
        })),
        "Gather" | "GetInput" | "GetDigits" => Ok(Verb::Gather(gather_from(element)?)),
        "Redirect" => Ok(Verb::Redirect(redirect_from(&element)?)),
        "Hangup" => Ok(Verb::Hangup(Hangup {
            reason: element.attribute("reason").map(str::to_owned),
        })),
        name if UNSIMULATED_VERBS.contains(&name) => Ok(Verb::Unsimulated(element.name)),
        _ => Err(XmlError::UnknownElement(element.name)),
    }
}

fn speak_from(element: &RawElement) -> Result<Speak, XmlError> {
    Ok(Speak {
        text: element.collapsed_text(),
        voice: element.attribute("voice").map(str::to_owned),
        language: element.attribute("language").map(str::to_owned),
        loop_count: optional_number(element, "loop", 0..=u32::MAX)?.unwrap_or(1),
    })
}

fn play_from(element: &RawElement) -> Result<Play, XmlError> {
    let url = element.collapsed_text();
    if url.is_empty() {
        return Err(XmlError::InvalidUrl {
            element: element.name.clone(),
            source: UrlError::NotAbsolute(url),
        });
    }
    Ok(Play {
        url,
        loop_count: optional_number(element, "loop", 0..=u32::MAX)?.unwrap_or(1),
    })
}

fn gather_from(element: RawElement) -> Result<Gather, XmlError> {
    let is_get_digits = element.name == "GetDigits";

    let action = match element.attribute("action") {
        None => {
            return Err(XmlError::MissingAttribute {
                element: element.name,
                attribute: "action",
            });
        }
        Some(action) => parse_http_url(action).map_err(|source| XmlError::InvalidUrl {
            element: element.name.clone(),
            source,
        })?,
    };
    let method = method_attribute(&element)?;

    let input_type = element.attribute("inputType").map(str::to_owned);
    if let Some(value) = &input_type
        && !matches!(value.as_str(), "dtmf" | "speech" | "dtmf speech")
    {
        return Err(invalid(
            &element,
            "inputType",
            value,
            "expected dtmf, speech or dtmf speech",
        ));
    }

    // GetDigits is Plivo's legacy element: `timeout` (default 5 s) and numDigits 99.
    let (execution_timeout_seconds, num_digits) = if is_get_digits {
        (
            optional_number(&element, "timeout", 1..=u32::MAX)?.unwrap_or(5),
            Some(optional_number(&element, "numDigits", 1..=u32::MAX)?.unwrap_or(99)),
        )
    } else {
        (
            optional_number(&element, "executionTimeout", 5..=60)?.unwrap_or(15),
            optional_number(&element, "numDigits", 1..=u32::MAX)?,
        )
    };

    let finish_on_key = match element.attribute("finishOnKey") {
        None => Some('#'),
        Some("" | "none") => None,
        Some(value) => {
            let mut keys = value.chars();
            match (keys.next(), keys.next()) {
                (Some(key), None) if key.is_ascii_digit() || key == '*' || key == '#' => Some(key),
                _ => {
                    return Err(invalid(
                        &element,
                        "finishOnKey",
                        value,
                        "expected one of 0-9, *, #, an empty value or none",
                    ));
                }
            }
        }
    };

    let redirect = match element.attribute("redirect") {
        None => true,
        Some(value) if value.eq_ignore_ascii_case("true") => true,
        Some(value) if value.eq_ignore_ascii_case("false") => false,
        Some(value) => {
            return Err(invalid(
                &element,
                "redirect",
                value,
                "expected true or false",
            ));
        }
    };

    let mut prompts = Vec::new();
    for node in element.children {
        match node {
            Node::Text(text) => reject_text(&text, &element.name)?,
            Node::Element(child) => match child.name.as_str() {
                "Speak" | "Play" | "Wait" => prompts.push(verb_from(child)?),
                _ => {
                    return Err(XmlError::NotAllowedIn {
                        child: child.name,
                        parent: element.name,
                    });
                }
            },
        }
    }

    Ok(Gather {
        element: element.name,
        action,
        method,
        input_type,
        num_digits,
        execution_timeout_seconds,
        finish_on_key,
        redirect,
        prompts,
    })
}

fn redirect_from(element: &RawElement) -> Result<Redirect, XmlError> {
    let target = element.collapsed_text();
    let url = parse_http_url(&target).map_err(|source| XmlError::InvalidUrl {
        element: element.name.clone(),
        source,
    })?;
    Ok(Redirect {
        url,
        method: method_attribute(element)?,
    })
}

fn method_attribute(element: &RawElement) -> Result<HttpMethod, XmlError> {
    match element.attribute("method") {
        None => Ok(HttpMethod::Post),
        Some(value) => HttpMethod::parse(value)
            .ok_or_else(|| invalid(element, "method", value, "expected GET or POST")),
    }
}

fn optional_number(
    element: &RawElement,
    attribute: &'static str,
    allowed: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, XmlError> {
    let Some(value) = element.attribute(attribute) else {
        return Ok(None);
    };
    match value.trim().parse::<u32>() {
        Ok(number) if allowed.contains(&number) => Ok(Some(number)),
        _ => Err(XmlError::InvalidAttribute {
            element: element.name.clone(),
            attribute,
            value: value.to_owned(),
            reason: range_reason(&allowed),
        }),
    }
}

fn range_reason(allowed: &std::ops::RangeInclusive<u32>) -> &'static str {
    match (allowed.start(), allowed.end()) {
        (5, 60) => "expected an integer from 5 to 60",
        (0, _) => "expected a non-negative integer",
        _ => "expected a positive integer",
    }
}

fn invalid(
    element: &RawElement,
    attribute: &'static str,
    value: &str,
    reason: &'static str,
) -> XmlError {
    XmlError::InvalidAttribute {
        element: element.name.clone(),
        attribute,
        value: value.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speak(text: &str) -> Verb {
        Verb::Speak(Speak {
            text: text.to_owned(),
            voice: None,
            language: None,
            loop_count: 1,
        })
    }

    #[test]
    fn gather_with_nested_speak_then_redirect_and_hangup() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
            <Response>
              <Gather action="https://gw.example/ivr/r1/choice" method="POST" inputType="dtmf"
                      numDigits="1" executionTimeout="8" finishOnKey="">
                <Speak voice="WOMAN" language="en-US">Press 1 to confirm.</Speak>
              </Gather>
              <Redirect method="POST">https://gw.example/ivr/r1/noinput?attempt=1</Redirect>
              <Hangup/>
            </Response>"#;
        let document = parse_document(xml).unwrap();
        assert_eq!(document.verbs.len(), 3);

        let Verb::Gather(gather) = &document.verbs[0] else {
            panic!("expected a gather, got {:?}", document.verbs[0]);
        };
        assert_eq!(gather.action.as_str(), "https://gw.example/ivr/r1/choice");
        assert_eq!(gather.method, HttpMethod::Post);
        assert_eq!(gather.input_type.as_deref(), Some("dtmf"));
        assert_eq!(gather.num_digits, Some(1));
        assert_eq!(gather.execution_timeout_seconds, 8);
        assert_eq!(gather.finish_on_key, None);
        assert!(gather.redirect);
        assert_eq!(
            gather.prompts,
            vec![Verb::Speak(Speak {
                text: "Press 1 to confirm.".to_owned(),
                voice: Some("WOMAN".to_owned()),
                language: Some("en-US".to_owned()),
                loop_count: 1,
            })]
        );

        let Verb::Redirect(redirect) = &document.verbs[1] else {
            panic!("expected a redirect, got {:?}", document.verbs[1]);
        };
        assert_eq!(
            redirect.url.as_str(),
            "https://gw.example/ivr/r1/noinput?attempt=1"
        );
        assert_eq!(redirect.method, HttpMethod::Post);
        assert_eq!(document.verbs[2], Verb::Hangup(Hangup { reason: None }));
    }

    #[test]
    fn entities_and_cdata_are_resolved() {
        let xml = "<Response><Speak>Smith &amp; Sons &lt;dental&gt; at 3&#58;00 &#x2014; <![CDATA[R&D]]></Speak></Response>";
        let document = parse_document(xml).unwrap();
        assert_eq!(
            document.verbs,
            vec![speak("Smith & Sons <dental> at 3:00 \u{2014} R&D")]
        );
    }

    #[test]
    fn escaped_ampersands_in_urls_are_resolved() {
        let xml =
            r#"<Response><Redirect>https://gw.example/next?a=1&amp;b=2</Redirect></Response>"#;
        let document = parse_document(xml).unwrap();
        let Verb::Redirect(redirect) = &document.verbs[0] else {
            panic!("expected a redirect");
        };
        assert_eq!(redirect.url.query(), Some("a=1&b=2"));
    }

    #[test]
    fn whitespace_and_ssml_in_speak_are_collapsed() {
        let xml = "<Response><Speak>\n  Hello,\n   this is<break time=\"1s\"/>Attend.\n</Speak></Response>";
        let document = parse_document(xml).unwrap();
        assert_eq!(document.verbs, vec![speak("Hello, this is Attend.")]);
    }

    #[test]
    fn gather_defaults_follow_the_vobiz_documentation() {
        let xml = r#"<Response><Gather action="http://gw/choice"/></Response>"#;
        let document = parse_document(xml).unwrap();
        let Verb::Gather(gather) = &document.verbs[0] else {
            panic!("expected a gather");
        };
        assert_eq!(gather.method, HttpMethod::Post);
        assert_eq!(gather.execution_timeout_seconds, 15);
        assert_eq!(gather.finish_on_key, Some('#'));
        assert_eq!(gather.num_digits, None);
        assert!(gather.redirect);
        assert!(gather.prompts.is_empty());
    }

    #[test]
    fn get_input_and_get_digits_are_gather_aliases() {
        let xml = r#"<Response>
            <GetInput action="http://gw/a" method="GET"><Speak>One</Speak></GetInput>
            <GetDigits action="http://gw/b" timeout="7" redirect="false"><Wait length="2"/></GetDigits>
        </Response>"#;
        let document = parse_document(xml).unwrap();
        let Verb::Gather(get_input) = &document.verbs[0] else {
            panic!("expected GetInput to parse as a gather");
        };
        assert_eq!(get_input.element, "GetInput");
        assert_eq!(get_input.method, HttpMethod::Get);
        assert_eq!(get_input.prompts, vec![speak("One")]);
        let Verb::Gather(get_digits) = &document.verbs[1] else {
            panic!("expected GetDigits to parse as a gather");
        };
        assert_eq!(get_digits.execution_timeout_seconds, 7);
        assert_eq!(get_digits.num_digits, Some(99));
        assert!(!get_digits.redirect);
        assert_eq!(
            get_digits.prompts,
            vec![Verb::Wait(Wait { length_seconds: 2 })]
        );
    }

    #[test]
    fn execution_timeout_outside_5_to_60_is_rejected() {
        for value in ["4", "61", "soon"] {
            let xml = format!(
                r#"<Response><Gather action="http://gw/a" executionTimeout="{value}"/></Response>"#
            );
            let error = parse_document(&xml).unwrap_err();
            assert!(
                matches!(
                    error,
                    XmlError::InvalidAttribute {
                        attribute: "executionTimeout",
                        ..
                    }
                ),
                "{value}: {error}"
            );
        }
    }

    #[test]
    fn relative_urls_are_rejected() {
        let error =
            parse_document("<Response><Redirect>/ivr/next</Redirect></Response>").unwrap_err();
        assert!(matches!(error, XmlError::InvalidUrl { .. }), "{error}");
        let error =
            parse_document(r#"<Response><Gather action="choice"/></Response>"#).unwrap_err();
        assert!(matches!(error, XmlError::InvalidUrl { .. }), "{error}");
        let error = parse_document("<Response><Gather/></Response>").unwrap_err();
        assert!(
            matches!(
                error,
                XmlError::MissingAttribute {
                    attribute: "action",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn malformed_documents_are_rejected() {
        let cases = [
            "",
            "<Response><Speak>unclosed</Response>",
            "<Response><Speak>hi</Speak>",
            "<Other/>",
            "<Response/><Response/>",
            "<Response><Speak>&nbsp;</Speak></Response>",
            "<Response><Bogus/></Response>",
            "<Response>stray text</Response>",
            r#"<Response><Gather action="http://gw/a"><Hangup/></Gather></Response>"#,
        ];
        for xml in cases {
            assert!(parse_document(xml).is_err(), "accepted {xml:?}");
        }
    }

    #[test]
    fn valid_but_unsimulated_elements_are_kept_as_such() {
        let document =
            parse_document(r#"<Response><Record action="http://gw/r"/><Hangup/></Response>"#)
                .unwrap();
        assert_eq!(document.verbs[0], Verb::Unsimulated("Record".to_owned()));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let xml = format!(
            "<Response><Speak>{}hi{}</Speak></Response>",
            "<p>".repeat(40),
            "</p>".repeat(40)
        );
        assert!(matches!(parse_document(&xml), Err(XmlError::TooDeep)));
    }
}
