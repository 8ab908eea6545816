//! End-to-end tests of the carrier sim against a fake gateway, both in this process.

mod callee_behaviour;
mod calls;
#[expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed setup step should fail the test at once"
)]
mod helpers;
mod limits;
mod make_call;
mod no_input;
mod robustness;
mod scripts;
mod signatures;
mod sms_faults;
#[expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test harness: a failed setup step should fail the test at once"
)]
mod sms_helpers;
mod sms_replies;
mod sms_send;
