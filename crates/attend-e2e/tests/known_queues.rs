//! Every queue a service declares is one `TestEnv::cleanup` deletes. A queue missing from
//! `KNOWN_QUEUES` outlives its test; hundreds of leftover quorum queues (each a Raft cluster)
//! are what made the local broker stop answering after a few hundred test runs.

use attend_test_support::KNOWN_QUEUES;

#[test]
fn cleanup_knows_every_queue_the_services_declare() {
    let declared = [
        booking_service::consume::reminder_events_spec().queue,
        booking_service::consume::subscriber_events_spec().queue,
        reminder_scheduler::consume::appointment_events_spec().queue,
        reminder_scheduler::consume::reminder_outcomes_spec().queue,
        reminder_scheduler::consume::tenant_settings_spec().queue,
        voice_gateway::reminders::consumer_spec().queue,
        voice_gateway::settings::consumer_spec().queue,
        voice_gateway::settings::cancelled_consumer_spec().queue,
        voice_gateway::consent::consumer_spec().queue,
        voice_gateway::api_keys::consumer_spec().queue,
        sms_service::reminders::consumer_spec().queue,
        sms_service::control::consumer_spec().queue,
    ];
    for queue in declared {
        assert!(
            KNOWN_QUEUES.contains(&queue),
            "{queue} is not in attend_test_support::KNOWN_QUEUES"
        );
    }
}
