//! Consent across channels: the opt-out key on a call publishes `subscriber.opted_out`, and
//! the `voice.subscribers` consumer applies the other channels' revocations (a STOP reply to
//! a text) and their withdrawals (START) to the numbers this gateway may call.

use attend_events::{routing_keys, to_timestamp, v1};
use attend_runtime::{ConsumerSpec, EventHandler, HandlerError, IncomingEvent, mask};
use chrono::Utc;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use crate::db::schema::opt_outs;

/// The queue's name, without the AMQP prefix.
pub const QUEUE: &str = "voice.subscribers";
/// The `source` of a revocation heard on a call (the opt-out key).
pub const VOICE_KEYPRESS: &str = "voice_keypress";
/// The key that opts out on the built-in reminder menu.
const OPT_OUT_KEY: &str = "8";

/// Returns the queue's spec: `subscriber.opted_out` and `subscriber.opted_in`.
pub fn consumer_spec() -> ConsumerSpec {
    ConsumerSpec::new(
        QUEUE,
        vec![
            routing_keys::SUBSCRIBER_OPTED_OUT,
            routing_keys::SUBSCRIBER_OPTED_IN,
        ],
    )
}

/// Writes `subscriber.opted_out` for a number that pressed the opt-out key: every channel.
pub async fn publish_opted_out(
    connection: &mut AsyncPgConnection,
    tenant_id: Uuid,
    phone: &str,
) -> QueryResult<()> {
    let event = v1::SubscriberOptedOut {
        tenant_id: tenant_id.to_string(),
        phone_e164: phone.to_owned(),
        channels: vec![v1::Channel::Voice.into(), v1::Channel::Sms.into()],
        source: VOICE_KEYPRESS.to_owned(),
        keyword: OPT_OUT_KEY.to_owned(),
        occurred_at: Some(to_timestamp(Utc::now())),
    };
    attend_runtime::outbox::enqueue(connection, Some(tenant_id), &event).await?;
    Ok(())
}

/// Applies the other channels' consent events.
pub struct SubscriberHandler;

impl SubscriberHandler {
    async fn apply(
        connection: &mut AsyncPgConnection,
        event: &IncomingEvent,
    ) -> Result<(), HandlerError> {
        use attend_events::Event as _;
        match event.event_type.as_str() {
            v1::SubscriberOptedOut::TYPE => {
                let opted_out: v1::SubscriberOptedOut = event.decode()?;
                let Some((tenant_id, phone)) = subject(
                    &opted_out.tenant_id,
                    &opted_out.phone_e164,
                    &opted_out.channels,
                    &opted_out.source,
                )?
                else {
                    return Ok(());
                };
                let recorded = diesel::insert_into(opt_outs::table)
                    .values((
                        opt_outs::tenant_id.eq(tenant_id),
                        opt_outs::phone.eq(&phone),
                        opt_outs::source.eq(opted_out.source.trim()),
                    ))
                    .on_conflict_do_nothing()
                    .execute(connection)
                    .await?;
                if recorded == 1 {
                    tracing::info!(%tenant_id, to = %mask::number(&phone), source = %opted_out.source, "opted out of reminder calls");
                }
                Ok(())
            }
            v1::SubscriberOptedIn::TYPE => {
                let opted_in: v1::SubscriberOptedIn = event.decode()?;
                let Some((tenant_id, phone)) = subject(
                    &opted_in.tenant_id,
                    &opted_in.phone_e164,
                    &opted_in.channels,
                    &opted_in.source,
                )?
                else {
                    return Ok(());
                };
                let removed = diesel::delete(
                    opt_outs::table
                        .filter(opt_outs::tenant_id.eq(tenant_id))
                        .filter(opt_outs::phone.eq(&phone)),
                )
                .execute(connection)
                .await?;
                if removed > 0 {
                    tracing::info!(%tenant_id, to = %mask::number(&phone), source = %opted_in.source, "opted back in to reminder calls");
                }
                Ok(())
            }
            other => Err(HandlerError::permanent(format!(
                "unexpected event type {other:?} on {QUEUE}"
            ))),
        }
    }
}

impl EventHandler for SubscriberHandler {
    fn handle<'a>(
        &'a self,
        connection: &'a mut AsyncPgConnection,
        event: &'a IncomingEvent,
    ) -> BoxFuture<'a, Result<(), HandlerError>> {
        Box::pin(Self::apply(connection, event))
    }
}

/// Returns the tenant and number a consent event is about, or `None` when it is this
/// gateway's own (applied already; applied late it could undo a later START) or does not
/// cover voice.
fn subject(
    tenant_id: &str,
    phone: &str,
    channels: &[i32],
    source: &str,
) -> Result<Option<(Uuid, String)>, HandlerError> {
    if source.trim() == VOICE_KEYPRESS {
        return Ok(None);
    }
    let covers_voice = channels.is_empty()
        || channels.contains(&i32::from(v1::Channel::Voice))
        || channels.contains(&i32::from(v1::Channel::Unspecified));
    if !covers_voice {
        return Ok(None);
    }
    let tenant_id = tenant_id
        .trim()
        .parse()
        .map_err(|_| HandlerError::permanent("tenant_id is not a uuid"))?;
    let phone = phone.trim();
    if !phone.starts_with('+') || phone.len() < 9 {
        return Err(HandlerError::permanent("phone_e164 is not E.164"));
    }
    Ok(Some((tenant_id, phone.to_owned())))
}
