//! Conversions between `google.protobuf.Timestamp` and `chrono::DateTime<Utc>`.

use chrono::{DateTime, Utc};

/// A timestamp that is missing or outside chrono's range.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimestampError {
    /// The field was not set.
    #[error("timestamp is missing")]
    Missing,
    /// Seconds or nanos out of range.
    #[error("timestamp is out of range")]
    OutOfRange,
}

/// Returns the protobuf form of `instant`.
pub fn to_timestamp(instant: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: instant.timestamp(),
        nanos: i32::try_from(instant.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// Returns the instant a protobuf timestamp field holds.
pub fn from_timestamp(
    timestamp: Option<&prost_types::Timestamp>,
) -> Result<DateTime<Utc>, TimestampError> {
    let timestamp = timestamp.ok_or(TimestampError::Missing)?;
    let nanos = u32::try_from(timestamp.nanos).map_err(|_| TimestampError::OutOfRange)?;
    DateTime::from_timestamp(timestamp.seconds, nanos).ok_or(TimestampError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_nanoseconds() {
        let instant = DateTime::from_timestamp(1_795_000_000, 123_456_789).unwrap();
        assert_eq!(from_timestamp(Some(&to_timestamp(instant))), Ok(instant));
    }

    #[test]
    fn a_missing_or_negative_nanos_timestamp_is_an_error() {
        assert_eq!(from_timestamp(None), Err(TimestampError::Missing));
        let bad = prost_types::Timestamp {
            seconds: 1,
            nanos: -1,
        };
        assert_eq!(from_timestamp(Some(&bad)), Err(TimestampError::OutOfRange));
    }
}
