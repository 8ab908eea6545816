//! The call-flow XML the carrier acts out (Vobiz `<Response>` documents), written with
//! quick-xml's escaping writer: text and attribute values are escaped by the writer, never
//! concatenated into markup.

use std::io::Cursor;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// The media type of every call-flow answer.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

/// The voice reminder prompts are spoken with.
pub const VOICE: &str = "WOMAN";

/// Text to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Speak {
    /// The words, plain text (escaped on output).
    pub text: String,
    /// The carrier's voice, e.g. `WOMAN` or `MAN`.
    pub voice: String,
    /// BCP 47 language of the text-to-speech voice, e.g. `en-US`.
    pub language: String,
}

/// Collects DTMF digits, speaking its prompts meanwhile; with no input the carrier goes on
/// with the element after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// The absolute URL the digits are POSTed to.
    pub action: String,
    /// Digits to collect.
    pub num_digits: u32,
    /// Seconds to wait for input once the prompts end (5–60).
    pub execution_timeout: u32,
    /// The key that ends input early; empty disables it.
    pub finish_on_key: String,
    /// What to say while waiting.
    pub prompts: Vec<Speak>,
}

/// One verb of a `<Response>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Element {
    /// `<Speak>`.
    Speak(Speak),
    /// `<Gather>` with nested `<Speak>`s.
    Gather(Gather),
    /// `<Redirect method="POST">` to an absolute URL; nothing after it runs.
    Redirect(String),
    /// `<Hangup/>`.
    Hangup,
}

/// Returns the `<Response>` document holding `elements`.
pub fn render(elements: &[Element]) -> std::io::Result<String> {
    let mut writer = Writer::new(Cursor::new(Vec::new()));
    writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    writer
        .create_element("Response")
        .write_inner_content(|writer| {
            for element in elements {
                write_element(writer, element)?;
            }
            Ok(())
        })?;
    String::from_utf8(writer.into_inner().into_inner()).map_err(std::io::Error::other)
}

fn write_element(writer: &mut Writer<Cursor<Vec<u8>>>, element: &Element) -> std::io::Result<()> {
    match element {
        Element::Speak(speak) => write_speak(writer, speak),
        Element::Gather(gather) => {
            let num_digits = gather.num_digits.to_string();
            let execution_timeout = gather.execution_timeout.to_string();
            writer
                .create_element("Gather")
                .with_attribute(("action", gather.action.as_str()))
                .with_attribute(("method", "POST"))
                .with_attribute(("inputType", "dtmf"))
                .with_attribute(("numDigits", num_digits.as_str()))
                .with_attribute(("executionTimeout", execution_timeout.as_str()))
                .with_attribute(("finishOnKey", gather.finish_on_key.as_str()))
                .write_inner_content(|writer| {
                    for prompt in &gather.prompts {
                        write_speak(writer, prompt)?;
                    }
                    Ok(())
                })?;
            Ok(())
        }
        Element::Redirect(url) => {
            writer
                .create_element("Redirect")
                .with_attribute(("method", "POST"))
                .write_text_content(BytesText::new(url))?;
            Ok(())
        }
        Element::Hangup => {
            writer.create_element("Hangup").write_empty()?;
            Ok(())
        }
    }
}

fn write_speak(writer: &mut Writer<Cursor<Vec<u8>>>, speak: &Speak) -> std::io::Result<()> {
    writer
        .create_element("Speak")
        .with_attribute(("voice", speak.voice.as_str()))
        .with_attribute(("language", speak.language.as_str()))
        .write_text_content(BytesText::new(&speak.text))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn speak(text: &str) -> Speak {
        Speak {
            text: text.to_owned(),
            voice: VOICE.to_owned(),
            language: "en-US".to_owned(),
        }
    }

    #[test]
    fn a_menu_renders_as_the_carrier_expects() {
        let document = render(&[
            Element::Gather(Gather {
                action: "http://gw/voice/input?attempt=1&step=menu".to_owned(),
                num_digits: 1,
                execution_timeout: 8,
                finish_on_key: String::new(),
                prompts: vec![speak("Press 1.")],
            }),
            Element::Speak(speak("Goodbye.")),
            Element::Hangup,
        ])
        .unwrap();
        assert_eq!(
            document,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Gather action=\"http://gw/voice/input?attempt=1&amp;step=menu\" method=\"POST\" \
             inputType=\"dtmf\" numDigits=\"1\" executionTimeout=\"8\" finishOnKey=\"\">\
             <Speak voice=\"WOMAN\" language=\"en-US\">Press 1.</Speak></Gather>\
             <Speak voice=\"WOMAN\" language=\"en-US\">Goodbye.</Speak><Hangup/></Response>"
        );
    }

    #[test]
    fn names_with_markup_characters_are_escaped() {
        let document = render(&[Element::Speak(speak("Hello Tom & <Jerry> \"Q\"."))]).unwrap();
        assert!(
            document.contains(">Hello Tom &amp; &lt;Jerry&gt; &quot;Q&quot;.</Speak>"),
            "{document}"
        );
        assert!(!document.contains("<Jerry>"));
    }

    #[test]
    fn attribute_values_are_escaped() {
        let document = render(&[Element::Speak(Speak {
            text: "x".to_owned(),
            voice: VOICE.to_owned(),
            language: "en\"><Hangup/>".to_owned(),
        })])
        .unwrap();
        assert!(
            document.contains("language=\"en&quot;&gt;&lt;Hangup/&gt;\""),
            "{document}"
        );
    }

    #[test]
    fn a_redirect_carries_its_url_as_text() {
        let document = render(&[Element::Redirect("http://gw/a?x=1&y=2".to_owned())]).unwrap();
        assert!(
            document.ends_with(
                "<Response><Redirect method=\"POST\">http://gw/a?x=1&amp;y=2</Redirect></Response>"
            ),
            "{document}"
        );
    }
}
