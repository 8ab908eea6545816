//! Golden bytes guard the wire format: a change that alters the encoding of an existing field
//! breaks every consumer in flight, so it must show up here as a failing test.

use attend_events::{Event, routing_keys, v1};
use prost::Message;

fn sample_outcome() -> v1::ReminderOutcome {
    v1::ReminderOutcome {
        reminder_id: "r1".into(),
        appointment_id: "a1".into(),
        tenant_id: "t1".into(),
        channel: v1::Channel::Voice.into(),
        outcome: v1::ReminderOutcomeKind::Confirmed.into(),
        detail: "pressed 1".into(),
        occurred_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        provider_ref: "c1".into(),
        attempt: 2,
    }
}

#[test]
fn reminder_outcome_encoding_is_stable() {
    let encoded = sample_outcome().encode_to_vec();
    let golden: &[u8] = &[
        0x0a, 0x02, b'r', b'1', // 1: reminder_id
        0x12, 0x02, b'a', b'1', // 2: appointment_id
        0x1a, 0x02, b't', b'1', // 3: tenant_id
        0x20, 0x01, // 4: channel = VOICE
        0x28, 0x01, // 5: outcome = CONFIRMED
        0x32, 0x09, b'p', b'r', b'e', b's', b's', b'e', b'd', b' ', b'1', // 6: detail
        0x3a, 0x06, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, // 7: occurred_at.seconds
        0x42, 0x02, b'c', b'1', // 8: provider_ref
        0x48, 0x02, // 9: attempt = 2
    ];
    assert_eq!(encoded, golden);
    assert_eq!(
        v1::ReminderOutcome::decode(golden).unwrap(),
        sample_outcome()
    );
}

#[test]
fn reminder_due_routes_by_channel() {
    let mut due = v1::ReminderDue {
        channel: v1::Channel::Sms.into(),
        ..Default::default()
    };
    assert_eq!(due.routing_key(), routing_keys::REMINDER_DUE_SMS);
    due.set_channel(v1::Channel::Voice);
    assert_eq!(due.routing_key(), routing_keys::REMINDER_DUE_VOICE);
    assert_eq!(v1::ReminderDue::TYPE, "attend.reminder.due.v1");
}
