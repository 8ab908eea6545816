//! Consent: the numbers that opted out, per tenant, and the `subscriber.*` events that carry
//! a revocation (or its withdrawal) to the other channels.
//!
//! A STOP in reply to a reminder covers every channel (FCC 24-18 presumes a revocation in
//! reply to an informational message stops all of them), so sms-service publishes
//! `subscriber.opted_out` for voice and SMS; voice-gateway's opt-out key is heard here too.

use attend_events::{to_timestamp, v1};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::conversations::{self, ReminderStatus};
use crate::db::schema::opt_outs;
use crate::outbound;

/// Where a revocation was heard.
pub mod source {
    /// A keyword in reply to a text.
    pub const SMS_KEYWORD: &str = "sms_keyword";
    /// The carrier refused to deliver because the number blocked the sender.
    pub const CARRIER: &str = "carrier";
}

/// Returns whether `phone` opted out of `tenant_id`'s texts.
pub async fn is_opted_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        opt_outs::table
            .filter(opt_outs::tenant_id.eq(tenant_id))
            .filter(opt_outs::phone_e164.eq(phone)),
    ))
    .get_result(connection)
    .await
}

/// Returns which of the (tenant, phone) `pairs` opted out, in one statement.
pub async fn opted_out_among(
    connection: &mut AsyncPgConnection,
    pairs: &[(Uuid, &str)],
) -> QueryResult<std::collections::HashSet<(Uuid, String)>> {
    if pairs.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let tenants: Vec<Uuid> = pairs.iter().map(|(tenant_id, _)| *tenant_id).collect();
    let phones: Vec<&str> = pairs.iter().map(|(_, phone)| *phone).collect();
    // Filtering by both lists may return one pair's tenant with another's phone; the caller
    // looks up exact pairs, so such a row only goes unused.
    let rows: Vec<(Uuid, String)> = opt_outs::table
        .filter(opt_outs::tenant_id.eq_any(tenants))
        .filter(opt_outs::phone_e164.eq_any(phones))
        .select((opt_outs::tenant_id, opt_outs::phone_e164))
        .distinct()
        .load(connection)
        .await?;
    Ok(rows.into_iter().collect())
}

/// Records that `phone` opted out of `tenant_id`; returns whether it is new.
pub async fn record_opt_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
    source: &str,
    keyword: &str,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(opt_outs::table)
        .values((
            opt_outs::tenant_id.eq(tenant_id),
            opt_outs::phone_e164.eq(phone),
            opt_outs::source.eq(source),
            opt_outs::keyword.eq(keyword),
        ))
        .on_conflict_do_nothing()
        .execute(connection)
        .await?;
    Ok(inserted == 1)
}

/// Removes the opt-out of `phone` from `tenant_id`; returns whether there was one.
pub async fn record_opt_in(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
) -> QueryResult<bool> {
    let deleted = diesel::delete(
        opt_outs::table
            .filter(opt_outs::tenant_id.eq(tenant_id))
            .filter(opt_outs::phone_e164.eq(phone)),
    )
    .execute(connection)
    .await?;
    Ok(deleted > 0)
}

/// Publishes `subscriber.opted_out` for every channel (outbox, caller's transaction).
pub async fn publish_opted_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
    source: &str,
    keyword: &str,
) -> QueryResult<()> {
    let event = v1::SubscriberOptedOut {
        tenant_id: tenant_id.to_string(),
        phone_e164: phone.to_owned(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: source.to_owned(),
        keyword: keyword.to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    attend_runtime::outbox::enqueue(connection, Some(tenant_id), &event).await?;
    Ok(())
}

/// Publishes `subscriber.opted_in` for every channel (outbox, caller's transaction).
pub async fn publish_opted_in(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
    keyword: &str,
) -> QueryResult<()> {
    let event = v1::SubscriberOptedIn {
        tenant_id: tenant_id.to_string(),
        phone_e164: phone.to_owned(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: source::SMS_KEYWORD.to_owned(),
        keyword: keyword.to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    attend_runtime::outbox::enqueue(connection, Some(tenant_id), &event).await?;
    Ok(())
}

/// Suppresses every queued reminder of `tenant_id` to `phone`: each ends `suppressed`, its
/// queued text is cancelled and `reminder.outcome` SUPPRESSED is written. Returns how many.
pub async fn suppress_queued(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
) -> QueryResult<usize> {
    let queued = conversations::queued_to(connection, tenant_id, phone).await?;
    for reminder in &queued {
        let detail = "the recipient opted out before it was sent";
        outbound::cancel_queued_of(connection, reminder.id, detail).await?;
        conversations::set_status(connection, reminder.id, ReminderStatus::Suppressed).await?;
        conversations::report(
            connection,
            reminder,
            v1::ReminderOutcomeKind::Suppressed,
            detail,
            None,
        )
        .await?;
    }
    Ok(queued.len())
}
