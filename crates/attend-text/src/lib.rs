//! The text side of Attend's SMS reminders, with no I/O: how many segments a text takes
//! ([`segments`]), an appointment's date in the recipient's zone and language
//! ([`datetime`]), `{placeholder}` templates ([`template`]) and the SMS catalogue with its
//! save-time lint ([`sms`]), and what a reply means ([`replies`]).
//!
//! Supported languages: en, fr, de, es, pt, it, nl ([`Language`]); any other falls back to
//! English where a text must be produced, and is refused where a template is saved.

pub mod datetime;
mod language;
pub mod replies;
pub mod segments;
pub mod sms;
pub mod template;

pub use language::Language;
