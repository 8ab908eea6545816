//! Slot ids: opaque to callers, stable across queries, and enough to book with.
//!
//! A slot id names a start instant and either one agent or "any agent who serves this
//! appointment type". It is not a database row: the same free time always gets the same id,
//! and booking re-checks that the time is still free, so a stale id is a clear conflict and
//! never a wrong booking.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The layout version, first byte of every id.
const VERSION: u8 = 1;
const KIND_AGENT: u8 = 1;
const KIND_ANY_AGENT: u8 = 2;
const ENCODED_LEN: usize = 1 + 1 + 16 + 8;

/// Whose time a slot is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotHolder {
    /// This agent's.
    Agent(Uuid),
    /// Any agent who serves this appointment type; one is picked when booking.
    AnyAgentOf(Uuid),
}

/// A decoded slot id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId {
    /// Whose time it is.
    pub holder: SlotHolder,
    /// Its start, to the second.
    pub start: DateTime<Utc>,
}

/// Why a string is not a slot id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a slot id returned by getSlots")]
pub struct InvalidSlotId;

impl SlotId {
    /// Returns the opaque text form.
    pub fn encode(&self) -> String {
        let (kind, id) = match self.holder {
            SlotHolder::Agent(agent_id) => (KIND_AGENT, agent_id),
            SlotHolder::AnyAgentOf(appointment_type_id) => (KIND_ANY_AGENT, appointment_type_id),
        };
        let mut bytes = [0_u8; ENCODED_LEN];
        bytes[0] = VERSION;
        bytes[1] = kind;
        bytes[2..18].copy_from_slice(id.as_bytes());
        bytes[18..].copy_from_slice(&self.start.timestamp().to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads the text form back.
    pub fn decode(text: &str) -> Result<Self, InvalidSlotId> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| InvalidSlotId)?;
        let bytes: [u8; ENCODED_LEN] = bytes.try_into().map_err(|_| InvalidSlotId)?;
        if bytes[0] != VERSION {
            return Err(InvalidSlotId);
        }
        let mut id = [0_u8; 16];
        id.copy_from_slice(&bytes[2..18]);
        let id = Uuid::from_bytes(id);
        let holder = match bytes[1] {
            KIND_AGENT => SlotHolder::Agent(id),
            KIND_ANY_AGENT => SlotHolder::AnyAgentOf(id),
            _ => return Err(InvalidSlotId),
        };
        let mut seconds = [0_u8; 8];
        seconds.copy_from_slice(&bytes[18..]);
        let start =
            DateTime::from_timestamp(i64::from_be_bytes(seconds), 0).ok_or(InvalidSlotId)?;
        Ok(Self { holder, start })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-29T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn ids_round_trip_and_are_stable() {
        for holder in [
            SlotHolder::Agent(Uuid::now_v7()),
            SlotHolder::AnyAgentOf(Uuid::now_v7()),
        ] {
            let slot = SlotId {
                holder,
                start: start(),
            };
            let text = slot.encode();
            assert_eq!(text, slot.encode());
            assert_eq!(SlotId::decode(&text).unwrap(), slot);
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }

    #[test]
    fn other_strings_are_refused() {
        assert_eq!(SlotId::decode("abcAvId1"), Err(InvalidSlotId));
        assert_eq!(SlotId::decode(""), Err(InvalidSlotId));
        let mut tampered = SlotId {
            holder: SlotHolder::Agent(Uuid::nil()),
            start: start(),
        }
        .encode();
        tampered.replace_range(0..2, "Aw");
        assert_eq!(SlotId::decode(&tampered), Err(InvalidSlotId));
    }
}
