//! Scheduler exactness: a cancellation or a reschedule at the very instant a reminder comes
//! due never lets a reminder out after the change committed (50 races each), a reschedule
//! replaces the pending reminders, overdue reminders after an outage fire or expire, and a
//! voice retry never revives a reminder of a cancelled or moved appointment.

use std::collections::HashMap;

use anyhow::Context;
use attend_events::{from_timestamp, v1};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use reminder_scheduler::jobs::{CancelReason, JobStatus, Outcome};
use uuid::Uuid;

use crate::helpers::{
    Appointment, OutcomeObserver, PATIENCE, TestApp, in_seconds, now, outcome_of, plan,
    plan_of_kind, settings,
};

use v1::ReminderOutcomeKind as Kind;

/// Races per race test.
const RACES: usize = 50;
/// Due times of consecutive races lie this far apart, so each race has the dispatcher to
/// itself and the whole test stays under ten seconds.
const RACE_SPACING_MS: i64 = 100;

/// Returns how far from its reminder's due instant race `race` publishes the change:
/// -45 ms to +45 ms in 5 ms steps, cycled. The consumer needs a few milliseconds to apply an
/// event and the dispatcher a few to claim after waking, so the early races are won by the
/// change, the late ones by the dispatcher, and those in between overlap.
fn change_offset(race: usize) -> chrono::Duration {
    let step = i64::try_from(race % 19).unwrap_or(0);
    chrono::Duration::milliseconds(step * 5 - 45)
}

/// Test-only instrumentation installed in the test's own database: it records, at the moment
/// each transaction commits, what that transaction could see. Deferred constraint triggers run
/// in the committing transaction just before its commit record is written, and each statement
/// of a volatile PL/pgSQL function takes a fresh snapshot (READ COMMITTED), so a trigger sees
/// every transaction committed before it and none committed after.
///
/// - `exactness_dispatch_commits`: for each job a transaction moved `pending → dispatched`
///   (the transaction that also wrote its `reminder.due` to the outbox), its kind and the
///   appointment's status and start as visible at that transaction's commit. Only the no-show
///   message may be dispatched for an appointment that is a no-show.
/// - `exactness_appointment_commits`: for each appointment a transaction inserted or updated
///   (schedule, reschedule, cancel, no-show), the appointment's status and start and how many
///   of its jobs were visibly still `pending` (all of them, and those other than the no-show
///   message), and pending with another start (stale), at that transaction's commit.
/// - `exactness_status_changes`: every status change of a job, as it happens.
///
/// `commit_order` comes from one sequence drawn inside those triggers, i.e. in pre-commit order.
const AUDIT: &str = r"
CREATE SEQUENCE exactness_commit_order;

CREATE TABLE exactness_dispatch_commits (
    reminder_id           uuid        NOT NULL,
    kind                  text        NOT NULL,
    appointment_id        uuid        NOT NULL,
    job_appointment_start timestamptz NOT NULL,
    commit_order          bigint      NOT NULL,
    appointment_status    text,
    appointment_start     timestamptz
);

CREATE TABLE exactness_appointment_commits (
    appointment_id     uuid   NOT NULL,
    commit_order       bigint NOT NULL,
    status             text   NOT NULL,
    start              timestamptz,
    pending_jobs       bigint NOT NULL,
    -- Pending jobs other than the no-show message: none may be left once it is a no-show.
    pending_reminders  bigint NOT NULL,
    stale_pending_jobs bigint NOT NULL
);

CREATE TABLE exactness_status_changes (
    reminder_id uuid NOT NULL,
    old_status  text NOT NULL,
    new_status  text NOT NULL
);

CREATE FUNCTION exactness_record_dispatch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exactness_dispatch_commits
    SELECT NEW.reminder_id, NEW.kind, NEW.appointment_id, NEW.appointment_start,
           nextval('exactness_commit_order'), a.status, a.start
    FROM (SELECT 1) AS one
    LEFT JOIN appointments a ON a.appointment_id = NEW.appointment_id;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER exactness_dispatch_commit
    AFTER UPDATE ON reminder_jobs DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status = 'pending' AND NEW.status = 'dispatched')
    EXECUTE FUNCTION exactness_record_dispatch();

CREATE FUNCTION exactness_record_appointment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exactness_appointment_commits
    SELECT a.appointment_id, nextval('exactness_commit_order'), a.status, a.start,
           count(j.reminder_id) FILTER (WHERE j.status = 'pending'),
           count(j.reminder_id) FILTER (WHERE j.status = 'pending' AND j.kind <> 'no_show'),
           count(j.reminder_id) FILTER (
               WHERE j.status = 'pending' AND j.appointment_start IS DISTINCT FROM a.start)
    FROM appointments a
    LEFT JOIN reminder_jobs j ON j.appointment_id = a.appointment_id
    WHERE a.appointment_id = NEW.appointment_id
    GROUP BY a.appointment_id, a.status, a.start;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER exactness_appointment_commit
    AFTER INSERT OR UPDATE ON appointments DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION exactness_record_appointment();

CREATE FUNCTION exactness_record_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO exactness_status_changes VALUES (NEW.reminder_id, OLD.status, NEW.status);
    RETURN NULL;
END $$;

CREATE TRIGGER exactness_status_change
    AFTER UPDATE ON reminder_jobs
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION exactness_record_status();
";

/// Every breach of the exactness invariants the audit recorded.
const VIOLATIONS: &str = r"
SELECT format('appointment %s committed as %s while %s job(s) were visibly pending, %s of them for another start',
              appointment_id, status, pending_jobs, stale_pending_jobs) AS violation
FROM exactness_appointment_commits
WHERE (status = 'cancelled' AND pending_jobs > 0)
   OR (status = 'no_show' AND pending_reminders > 0)
   OR stale_pending_jobs > 0
UNION ALL
SELECT format('reminder %s was dispatched by a transaction that committed when its appointment was %s starting %s (the job says %s)',
              reminder_id, coalesce(appointment_status, 'unknown'), appointment_start, job_appointment_start)
FROM exactness_dispatch_commits
WHERE appointment_status IS DISTINCT FROM (CASE kind WHEN 'no_show' THEN 'no_show' ELSE 'active' END)
   OR appointment_start IS DISTINCT FROM job_appointment_start
UNION ALL
SELECT format('reminder %s: dispatch commit #%s follows commit #%s that made its appointment %s starting %s',
              d.reminder_id, d.commit_order, c.commit_order, c.status, c.start)
FROM exactness_dispatch_commits d
JOIN exactness_appointment_commits c
  ON c.appointment_id = d.appointment_id AND c.commit_order < d.commit_order
 AND (c.status = 'cancelled' OR c.start IS DISTINCT FROM d.job_appointment_start
      OR (c.status = 'no_show' AND d.kind <> 'no_show'))
UNION ALL
SELECT format('reminder %s left the final status %s for %s', reminder_id, old_status, new_status)
FROM exactness_status_changes
WHERE old_status IN ('cancelled', 'expired', 'completed')
";

#[derive(QueryableByName)]
struct Violation {
    #[diesel(sql_type = Text)]
    violation: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

async fn install_audit(app: &TestApp) -> anyhow::Result<()> {
    let mut connection = app.connect().await?;
    connection
        .batch_execute(AUDIT)
        .await
        .context("failed to install the exactness audit")
}

async fn audit_violations(app: &TestApp) -> anyhow::Result<Vec<String>> {
    let mut connection = app.connect().await?;
    let rows: Vec<Violation> = diesel::sql_query(VIOLATIONS)
        .load(&mut connection)
        .await
        .context("failed to read the exactness audit")?;
    Ok(rows.into_iter().map(|row| row.violation).collect())
}

async fn audited_dispatches(app: &TestApp) -> anyhow::Result<i64> {
    let mut connection = app.connect().await?;
    let row: Count = diesel::sql_query("SELECT count(*) AS count FROM exactness_dispatch_commits")
        .get_result(&mut connection)
        .await?;
    Ok(row.count)
}

async fn count_jobs(app: &TestApp) -> anyhow::Result<i64> {
    let mut connection = app.connect().await?;
    let row: Count = diesel::sql_query("SELECT count(*) AS count FROM reminder_jobs")
        .get_result(&mut connection)
        .await?;
    Ok(row.count)
}

/// What a race publishes at its reminder's due instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Cancel,
    Reschedule,
    /// A no-show recorded at the due instant of a follow-up (the appointment started before).
    NoShow,
}

/// One appointment of a race test.
struct Race {
    appointment: Appointment,
    reminder_id: Uuid,
    /// The reschedule's new reminder, due an hour later, or the no-show message, due at once
    /// (unused for a cancel).
    new_reminder_id: Uuid,
    due_at: DateTime<Utc>,
    /// How far from the due instant the change was actually published.
    published_offset: chrono::Duration,
}

/// Runs [`RACES`] races of `change` against the dispatchers of two instances and returns how
/// many reminders went out (the rest were cancelled or superseded in time). Asserts, for each
/// race, the exactness invariant described on [`a_cancellation_at_the_due_instant_never_lets_a_reminder_out_after_it_committed`].
async fn run_races(change: Change) -> anyhow::Result<usize> {
    // Two instances: two dispatchers claim and two consumers apply the changes, so the race
    // is also between instances, as in production.
    let app = TestApp::spawn_with(2, &[]).await?;
    install_audit(&app).await?;

    let first_due = in_seconds(2);
    let mut races = Vec::with_capacity(RACES);
    for index in 0..RACES {
        let appointment = if change == Change::NoShow {
            Appointment::starting_at(in_seconds(-1800))
        } else {
            Appointment::starting_at(in_seconds(3600))
        };
        let reminder_id = Uuid::now_v7();
        let offset =
            chrono::Duration::milliseconds(RACE_SPACING_MS * i64::try_from(index).unwrap_or(0));
        let due_at = first_due + offset;
        let channel = if index % 2 == 0 {
            v1::Channel::Voice
        } else {
            v1::Channel::Sms
        };
        let planned = if change == Change::NoShow {
            plan_of_kind(reminder_id, channel, due_at, v1::ReminderKind::FollowUp, "")
        } else {
            plan(reminder_id, channel, due_at)
        };
        app.publish(appointment.tenant_id, &appointment.scheduled(vec![planned]))
            .await?;
        races.push(Race {
            appointment,
            reminder_id,
            new_reminder_id: Uuid::now_v7(),
            due_at,
            published_offset: chrono::Duration::zero(),
        });
    }
    attend_test_support::wait_until(PATIENCE, "every race's job stored", || async {
        (count_jobs(&app).await.ok()? == i64::try_from(RACES).ok()?).then_some(())
    })
    .await?;

    // One publisher, in due order: each change goes out at its due instant plus its offset.
    let mut change_ids = Vec::with_capacity(RACES);
    for (index, race) in races.iter_mut().enumerate() {
        let publish_at = race.due_at + change_offset(index);
        if let Ok(wait) = (publish_at - Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
        race.published_offset = Utc::now() - race.due_at;
        let tenant_id = race.appointment.tenant_id;
        let id = match change {
            Change::Cancel => {
                app.publish(tenant_id, &race.appointment.cancelled())
                    .await?
            }
            Change::Reschedule => {
                let (_, rescheduled) = race.appointment.rescheduled(
                    in_seconds(7200),
                    vec![plan(
                        race.new_reminder_id,
                        v1::Channel::Voice,
                        in_seconds(3600),
                    )],
                );
                app.publish(tenant_id, &rescheduled).await?
            }
            Change::NoShow => {
                let message = plan_of_kind(
                    race.new_reminder_id,
                    v1::Channel::Sms,
                    now(),
                    v1::ReminderKind::NoShow,
                    "",
                );
                app.publish(tenant_id, &race.appointment.no_show(Some(message)))
                    .await?
            }
        };
        change_ids.push(id);
    }
    for id in change_ids {
        app.wait_for_inbox(id).await?;
    }
    app.wait_until_nothing_due().await?;

    let counts = app.observer.counts().await?;
    let mut fired = 0;
    for race in &races {
        let sent = counts
            .get(&race.reminder_id.to_string())
            .copied()
            .unwrap_or(0);
        let job = app
            .job(race.reminder_id)
            .await?
            .context("a race's job vanished")?;
        let offset_ms = race.published_offset.num_milliseconds();
        match (sent, job.status) {
            (1, JobStatus::Dispatched) => fired += 1,
            (0, JobStatus::Cancelled) => {
                let reason = match change {
                    Change::Cancel => CancelReason::AppointmentCancelled,
                    Change::Reschedule => CancelReason::Superseded,
                    Change::NoShow => CancelReason::NoShow,
                };
                assert_eq!(job.cancel_reason, Some(reason), "race at {offset_ms} ms");
            }
            (sent, status) => panic!(
                "race at {offset_ms} ms: reminder {} sent {sent} time(s), job {status}",
                race.reminder_id
            ),
        }
        if change == Change::Reschedule {
            assert_eq!(
                counts.get(&race.new_reminder_id.to_string()),
                None,
                "a reminder due in an hour fired"
            );
            let new_job = app
                .job(race.new_reminder_id)
                .await?
                .context("the reschedule's job is missing")?;
            assert_eq!(new_job.status, JobStatus::Pending);
        }
        if change == Change::NoShow {
            assert_eq!(
                counts.get(&race.new_reminder_id.to_string()),
                Some(&1),
                "the no-show message went out once"
            );
            let message = app
                .job(race.new_reminder_id)
                .await?
                .context("the no-show message's job is missing")?;
            assert_eq!(message.status, JobStatus::Dispatched);
        }
    }
    let violations = audit_violations(&app).await?;
    assert!(violations.is_empty(), "{violations:#?}");
    // The audit saw every dispatch: it is not vacuous.
    let messages = if change == Change::NoShow { RACES } else { 0 };
    assert_eq!(
        audited_dispatches(&app).await?,
        i64::try_from(fired + messages)?
    );
    eprintln!(
        "{change:?}: {fired} of {RACES} reminders fired before the change committed, {} were dropped; published offsets {:?} ms",
        RACES - fired,
        races
            .iter()
            .map(|race| race.published_offset.num_milliseconds())
            .collect::<Vec<_>>()
    );
    app.stop().await?;
    Ok(fired)
}

/// A cancellation published at the instant its reminder comes due, 50 times, with two
/// scheduler instances dispatching: no `reminder.due` is ever written after the cancellation
/// committed.
///
/// How this is checked (see [`AUDIT`]): a dispatch transaction D moves the job `pending →
/// dispatched` and writes its `reminder.due` in the same commit; a cancel transaction C marks
/// the appointment cancelled and its pending jobs cancelled in one commit. Suppose D commits
/// after C. Either C had committed when D's commit-time trigger ran, and the trigger saw the
/// appointment cancelled (a violation recorded); or D's trigger ran before C committed, so D
/// had made all its writes and was still uncommitted when C's commit-time trigger ran. C
/// cannot have updated the job itself (D held that row's lock until after C committed, and had
/// C updated it first, D's update would have waited for C's commit), so C's trigger saw the
/// job still `pending` (D's change invisible): a violation recorded too. Hence "no violation"
/// proves every `reminder.due` committed before the cancellation; the commit order the
/// triggers draw from one sequence is checked as well. A write of `reminder.due` without the
/// status change is ruled out by "sent once ⇔ job dispatched", and any move out of a final
/// status (cancelled → dispatched) is recorded by a plain trigger.
///
/// Per race, the reminder went out exactly once and its job is `dispatched`, or it never went
/// out and its job is `cancelled`. The test fails if every race falls on the same side, since
/// then it would not have raced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancellation_at_the_due_instant_never_lets_a_reminder_out_after_it_committed()
-> anyhow::Result<()> {
    let fired = run_races(Change::Cancel).await?;
    assert!(
        fired > 0 && fired < RACES,
        "the races all fell on one side ({fired} of {RACES} fired): the timing did not race"
    );
    Ok(())
}

/// A reschedule (a new plan due in an hour, the appointment an hour later) published at the
/// instant the old reminder comes due, 50 times with two instances: the old reminder goes out
/// only if its dispatch committed before the reschedule did (same audit and argument as the
/// cancellation race: no job is visibly pending for the old start when the reschedule commits,
/// and no dispatch commits once the appointment visibly has another start); otherwise it ends
/// `superseded`. The new reminder never fires early.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reschedule_at_the_due_instant_never_lets_the_old_reminder_out_after_it_committed()
-> anyhow::Result<()> {
    let fired = run_races(Change::Reschedule).await?;
    assert!(
        fired > 0 && fired < RACES,
        "the races all fell on one side ({fired} of {RACES} fired): the timing did not race"
    );
    Ok(())
}

/// A no-show recorded at the instant a follow-up of the (started) appointment comes due, 50
/// times with two instances: the follow-up goes out only if its dispatch committed before the
/// no-show did; otherwise it ends cancelled (`no_show`). The no-show's transaction cancels
/// pending jobs with the same blocking UPDATE as a cancellation, so the argument and the audit
/// are those of the cancellation race, with one difference the audit knows: the no-show
/// message itself is dispatched while the appointment is a no-show, and goes out once per race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_no_show_at_the_follow_ups_due_instant_never_lets_the_follow_up_out_after_it_committed()
-> anyhow::Result<()> {
    let fired = run_races(Change::NoShow).await?;
    assert!(
        fired > 0 && fired < RACES,
        "the races all fell on one side ({fired} of {RACES} fired): the timing did not race"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reschedule_moves_the_due_times_and_the_old_ones_never_fire() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    // `kept` stays in the new plan with a new due time (same reminder id); `dropped` is not
    // in it. Both were due in three seconds.
    let kept = Uuid::now_v7();
    let dropped = Uuid::now_v7();
    let old_due = in_seconds(3);
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![
            plan(kept, v1::Channel::Voice, old_due),
            plan(dropped, v1::Channel::Sms, old_due),
        ]),
    )
    .await?;
    let new_due = in_seconds(3600);
    let (moved, rescheduled) = appointment.rescheduled(
        in_seconds(7200),
        vec![plan(kept, v1::Channel::Voice, new_due)],
    );
    let reschedule_id = app.publish(appointment.tenant_id, &rescheduled).await?;
    app.wait_for_inbox(reschedule_id).await?;
    assert!(
        now() < old_due,
        "the machine is too slow for this test: the reschedule applied after the old due time"
    );

    // A sentinel due a second after the old due time: once it fired, the dispatcher has run
    // past the old due time.
    let other = Appointment::starting_at(in_seconds(3600));
    let sentinel = Uuid::now_v7();
    app.publish(
        other.tenant_id,
        &other.scheduled(vec![plan(
            sentinel,
            v1::Channel::Sms,
            old_due + chrono::Duration::seconds(1),
        )]),
    )
    .await?;
    app.observer.wait_for(sentinel).await?;
    app.wait_until_nothing_due().await?;

    let counts = app.observer.counts().await?;
    assert_eq!(counts.get(&kept.to_string()), None, "an old due time fired");
    assert_eq!(
        counts.get(&dropped.to_string()),
        None,
        "an old due time fired"
    );
    let kept_job = app.job(kept).await?.context("the kept job is missing")?;
    assert_eq!(kept_job.status, JobStatus::Pending);
    assert_eq!(kept_job.due_at, new_due);
    assert_eq!(kept_job.appointment_start, moved.start);
    let dropped_job = app
        .job(dropped)
        .await?
        .context("the dropped job is missing")?;
    assert_eq!(
        (dropped_job.status, dropped_job.cancel_reason),
        (JobStatus::Cancelled, Some(CancelReason::Superseded))
    );
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rescheduled_reminder_already_due_fires_at_once_while_the_appointment_is_ahead()
-> anyhow::Result<()> {
    // A one-minute poll: only the consumer's wake-up can make the reminder fire promptly.
    let app = TestApp::spawn_with(1, &[("SCHEDULER_POLL_MS", "60000")]).await?;
    let appointment = Appointment::starting_at(in_seconds(7200));
    let old_reminder = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(
            old_reminder,
            v1::Channel::Voice,
            in_seconds(3600),
        )]),
    )
    .await?;
    // Moved forward to start in 30 minutes; its new reminder "an hour before" is already past.
    let new_reminder = Uuid::now_v7();
    let new_due = in_seconds(-1800);
    let (moved, rescheduled) = appointment.rescheduled(
        in_seconds(1800),
        vec![plan(new_reminder, v1::Channel::Voice, new_due)],
    );
    let published_at = now();
    app.publish(appointment.tenant_id, &rescheduled).await?;

    let observed = app.observer.wait_for(new_reminder).await?;
    assert!(
        observed.received_at - published_at < chrono::Duration::seconds(10),
        "fired {} after the reschedule, the poll interval is a minute",
        observed.received_at - published_at
    );
    assert_eq!(
        from_timestamp(observed.event.appointment_start.as_ref())?,
        moved.start
    );
    assert_eq!(from_timestamp(observed.event.due_at.as_ref())?, new_due);
    let old_job = app
        .wait_for_status(old_reminder, JobStatus::Cancelled)
        .await?;
    assert_eq!(old_job.cancel_reason, Some(CancelReason::Superseded));
    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(counts.get(&new_reminder.to_string()), Some(&1));
    assert_eq!(counts.get(&old_reminder.to_string()), None);
    app.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reschedule_to_a_start_already_past_expires_its_reminders_unsent() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let outcomes = OutcomeObserver::declare(&app).await?;
    let appointment = Appointment::starting_at(in_seconds(3600));
    let old_reminder = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(
            old_reminder,
            v1::Channel::Voice,
            in_seconds(1800),
        )]),
    )
    .await?;
    // A reschedule that reaches the scheduler after the new start (a delayed event): its
    // reminder is overdue and the appointment is no longer ahead.
    let new_reminder = Uuid::now_v7();
    let (_, rescheduled) = appointment.rescheduled(
        in_seconds(-60),
        vec![plan(new_reminder, v1::Channel::Sms, in_seconds(-120))],
    );
    app.publish(appointment.tenant_id, &rescheduled).await?;

    let expired = outcomes.wait_for(new_reminder, Kind::Expired).await?;
    assert_eq!(expired.channel(), v1::Channel::Sms);
    app.wait_for_status(new_reminder, JobStatus::Expired)
        .await?;
    app.wait_for_status(old_reminder, JobStatus::Cancelled)
        .await?;
    app.wait_until_settled().await?;
    assert!(
        app.observer.counts().await?.is_empty(),
        "a reminder of a past appointment fired"
    );
    app.stop().await
}

/// Moves a stored job (and, when `appointment_start` is given, its appointment) in the
/// database, as if time had passed while no scheduler ran.
async fn age_job(
    app: &TestApp,
    reminder_id: Uuid,
    due_at: DateTime<Utc>,
    appointment_start: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    use reminder_scheduler::db::schema::{appointments, reminder_jobs};
    let mut connection = app.connect().await?;
    let updated = diesel::update(reminder_jobs::table.find(reminder_id))
        .set(reminder_jobs::due_at.eq(due_at))
        .execute(&mut connection)
        .await?;
    anyhow::ensure!(updated == 1, "job {reminder_id} not found");
    if let Some(start) = appointment_start {
        let appointment_id: Uuid = reminder_jobs::table
            .find(reminder_id)
            .select(reminder_jobs::appointment_id)
            .first(&mut connection)
            .await?;
        diesel::update(reminder_jobs::table.find(reminder_id))
            .set(reminder_jobs::appointment_start.eq(start))
            .execute(&mut connection)
            .await?;
        diesel::update(appointments::table.find(appointment_id))
            .set(appointments::start.eq(Some(start)))
            .execute(&mut connection)
            .await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_an_outage_overdue_reminders_fire_once_if_their_appointment_is_ahead_and_expire_otherwise()
-> anyhow::Result<()> {
    let mut app = TestApp::spawn().await?;
    let outcomes = OutcomeObserver::declare(&app).await?;

    // Stored before the outage, due in half an hour.
    let stored_ahead = Appointment::starting_at(in_seconds(3600));
    let stored_ahead_reminder = Uuid::now_v7();
    let stored_started = Appointment::starting_at(in_seconds(3600));
    let stored_started_reminder = Uuid::now_v7();
    for (appointment, reminder_id) in [
        (stored_ahead, stored_ahead_reminder),
        (stored_started, stored_started_reminder),
    ] {
        app.publish(
            appointment.tenant_id,
            &appointment.scheduled(vec![plan(
                reminder_id,
                v1::Channel::Voice,
                in_seconds(1800),
            )]),
        )
        .await?;
        app.wait_for_status(reminder_id, JobStatus::Pending).await?;
    }

    app.stop_instances().await?;
    // The outage lasts long enough for both to come due; one appointment took place meanwhile.
    age_job(&app, stored_ahead_reminder, in_seconds(-600), None).await?;
    age_job(
        &app,
        stored_started_reminder,
        in_seconds(-7200),
        Some(in_seconds(-3600)),
    )
    .await?;
    // Events that arrive during the outage wait in the queue, their reminders overdue.
    let arrived_ahead = Appointment::starting_at(in_seconds(3600));
    let arrived_ahead_reminder = Uuid::now_v7();
    app.publish(
        arrived_ahead.tenant_id,
        &arrived_ahead.scheduled(vec![plan(
            arrived_ahead_reminder,
            v1::Channel::Sms,
            in_seconds(-300),
        )]),
    )
    .await?;
    let arrived_started = Appointment::starting_at(in_seconds(-1800));
    let arrived_started_reminder = Uuid::now_v7();
    app.publish(
        arrived_started.tenant_id,
        &arrived_started.scheduled(vec![plan(
            arrived_started_reminder,
            v1::Channel::Sms,
            in_seconds(-5400),
        )]),
    )
    .await?;

    // Back with two instances: both catch up at once, and still each job fires once.
    app.start_instances(2).await?;
    for reminder_id in [stored_ahead_reminder, arrived_ahead_reminder] {
        app.observer.wait_for(reminder_id).await?;
        app.wait_for_status(reminder_id, JobStatus::Dispatched)
            .await?;
    }
    for reminder_id in [stored_started_reminder, arrived_started_reminder] {
        outcomes.wait_for(reminder_id, Kind::Expired).await?;
        app.wait_for_status(reminder_id, JobStatus::Expired).await?;
    }
    app.wait_until_settled().await?;
    let counts = app.observer.counts().await?;
    assert_eq!(
        counts,
        HashMap::from([
            (stored_ahead_reminder.to_string(), 1),
            (arrived_ahead_reminder.to_string(), 1),
        ])
    );
    let expired: Vec<_> = outcomes
        .drain()
        .await?
        .into_iter()
        .filter(|outcome| outcome.outcome() == Kind::Expired)
        .map(|outcome| outcome.reminder_id)
        .collect();
    assert_eq!(expired.len(), 2, "{expired:?}");
    app.stop().await
}

/// Schedules a voice reminder due now for a tenant that retries busy calls after a second,
/// and waits until its first attempt went out.
async fn dispatched_voice_reminder(app: &TestApp) -> anyhow::Result<(Appointment, Uuid)> {
    let appointment = Appointment::starting_at(in_seconds(3600));
    let settings_id = app
        .publish(
            appointment.tenant_id,
            &settings(appointment.tenant_id, 1, (0, 24 * 60), 2, 1, &[Kind::Busy]),
        )
        .await?;
    app.wait_for_inbox(settings_id).await?;
    let reminder_id = Uuid::now_v7();
    app.publish(
        appointment.tenant_id,
        &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
    )
    .await?;
    app.observer.wait_for(reminder_id).await?;
    app.wait_for_status(reminder_id, JobStatus::Dispatched)
        .await?;
    Ok((appointment, reminder_id))
}

/// The call is ringing when the appointment is cancelled; it then reports busy. A retry would
/// send a reminder after the cancellation committed: the job completes busy instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_retry_never_revives_a_reminder_of_a_cancelled_appointment() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice_reminder(&app).await?;
    let cancel_id = app
        .publish(appointment.tenant_id, &appointment.cancelled())
        .await?;
    app.wait_for_inbox(cancel_id).await?;
    let busy_id = app
        .publish(
            appointment.tenant_id,
            &outcome_of(&appointment, reminder_id, Kind::Busy, 1),
        )
        .await?;
    app.wait_for_inbox(busy_id).await?;

    let job = app.job(reminder_id).await?.context("the job is missing")?;
    assert_eq!(
        (job.status, job.outcome, job.attempt),
        (JobStatus::Completed, Some(Outcome::Busy), 1),
        "a retry was scheduled for a cancelled appointment"
    );
    app.wait_until_settled().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 1);
    app.stop().await
}

/// The call is ringing when the appointment moves; it then reports busy. A retry would
/// remind the recipient of the old time: the job completes busy, the new plan stands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_retry_never_revives_a_reminder_of_a_rescheduled_appointment() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice_reminder(&app).await?;
    let new_reminder = Uuid::now_v7();
    let (_, rescheduled) = appointment.rescheduled(
        in_seconds(7200),
        vec![plan(new_reminder, v1::Channel::Voice, in_seconds(3600))],
    );
    let reschedule_id = app.publish(appointment.tenant_id, &rescheduled).await?;
    app.wait_for_inbox(reschedule_id).await?;
    let busy_id = app
        .publish(
            appointment.tenant_id,
            &outcome_of(&appointment, reminder_id, Kind::Busy, 1),
        )
        .await?;
    app.wait_for_inbox(busy_id).await?;

    let job = app.job(reminder_id).await?.context("the job is missing")?;
    assert_eq!(
        (job.status, job.outcome, job.attempt),
        (JobStatus::Completed, Some(Outcome::Busy), 1),
        "a retry was scheduled for the old appointment time"
    );
    let new_job = app
        .job(new_reminder)
        .await?
        .context("the new job is missing")?;
    assert_eq!(new_job.status, JobStatus::Pending);
    app.wait_until_nothing_due().await?;
    assert_eq!(app.observer.counts().await?[&reminder_id.to_string()], 1);
    app.stop().await
}

/// Calls that report busy at the instant their appointment is cancelled, 30 times with two
/// instances (the outcome and the cancellation are applied by different consumers, at once):
/// whichever commits first, no second attempt ever goes out. Busy first: the retry is
/// pending when the cancellation comes and is cancelled with the appointment. Cancellation
/// first: the outcome sees it (it waits for the appointment's lock) and completes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_outcome_racing_the_cancellation_never_brings_a_second_attempt() -> anyhow::Result<()>
{
    const CALLS: usize = 30;
    let app = TestApp::spawn_with(2, &[]).await?;
    install_audit(&app).await?;
    let tenant_id = Uuid::now_v7();
    let settings_id = app
        .publish(
            tenant_id,
            &settings(tenant_id, 1, (0, 24 * 60), 2, 1, &[Kind::Busy]),
        )
        .await?;
    app.wait_for_inbox(settings_id).await?;
    let mut calls = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let appointment = Appointment {
            tenant_id,
            ..Appointment::starting_at(in_seconds(3600))
        };
        let reminder_id = Uuid::now_v7();
        app.publish(
            tenant_id,
            &appointment.scheduled(vec![plan(reminder_id, v1::Channel::Voice, in_seconds(-60))]),
        )
        .await?;
        calls.push((appointment, reminder_id));
    }
    for (_, reminder_id) in &calls {
        app.wait_for_status(*reminder_id, JobStatus::Dispatched)
            .await?;
    }

    let mut applied = Vec::with_capacity(2 * CALLS);
    for (index, (appointment, reminder_id)) in calls.iter().enumerate() {
        let busy = outcome_of(appointment, *reminder_id, Kind::Busy, 1);
        let cancelled = appointment.cancelled();
        // Alternate which one leaves first; they reach the two consumers within a millisecond.
        if index % 2 == 0 {
            applied.push(app.publish(tenant_id, &busy).await?);
            applied.push(app.publish(tenant_id, &cancelled).await?);
        } else {
            applied.push(app.publish(tenant_id, &cancelled).await?);
            applied.push(app.publish(tenant_id, &busy).await?);
        }
    }
    for id in applied {
        app.wait_for_inbox(id).await?;
    }
    // A retry is due a second after its outcome; once none is pending, none can fire.
    app.wait_until_settled().await?;

    let mut retried_then_cancelled = 0;
    for (_, reminder_id) in &calls {
        let job = app.job(*reminder_id).await?.context("a job vanished")?;
        match (job.status, job.attempt) {
            (JobStatus::Completed, 1) => assert_eq!(job.outcome, Some(Outcome::Busy)),
            (JobStatus::Cancelled, 2) => {
                assert_eq!(job.cancel_reason, Some(CancelReason::AppointmentCancelled));
                retried_then_cancelled += 1;
            }
            (status, attempt) => {
                panic!("reminder {reminder_id} ended {status} at attempt {attempt}")
            }
        }
    }
    let observed = app.observer.drain().await?;
    assert!(
        observed.iter().all(|due| due.event.attempt == 1),
        "a second attempt went out: {observed:#?}"
    );
    assert_eq!(observed.len(), CALLS);
    let violations = audit_violations(&app).await?;
    assert!(violations.is_empty(), "{violations:#?}");
    for queue in [
        "scheduler.appointment-events.dlq",
        "scheduler.reminder-outcomes.dlq",
    ] {
        assert_eq!(app.queue_len(queue).await?, 0, "{queue}");
    }
    eprintln!(
        "{retried_then_cancelled} of {CALLS} retries were scheduled, then cancelled; the rest completed busy"
    );
    app.stop().await
}

/// The retry of a reminder whose appointment is unchanged still happens (the guard above
/// does not swallow ordinary retries), and waits its interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voice_retry_of_an_unchanged_appointment_still_happens() -> anyhow::Result<()> {
    let app = TestApp::spawn().await?;
    let (appointment, reminder_id) = dispatched_voice_reminder(&app).await?;
    app.publish(
        appointment.tenant_id,
        &outcome_of(&appointment, reminder_id, Kind::Busy, 1),
    )
    .await?;
    let retried =
        attend_test_support::wait_until(PATIENCE, "the second attempt to go out", || async {
            app.observer.drain().await.ok()?.into_iter().find(|due| {
                due.event.reminder_id == reminder_id.to_string() && due.event.attempt == 2
            })
        })
        .await?;
    assert_eq!(
        from_timestamp(retried.event.appointment_start.as_ref())?,
        appointment.start
    );
    app.stop().await
}
