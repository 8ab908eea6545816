//! The Flowroute and Twilio adapters against the real carrier sim (started in-process on port
//! 0): success, provider refs and segments, and how each failure is classified.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use attend_runtime::Secret;
use serde_json::{Value, json};
use sms_service::carrier::{
    FlowrouteCarrier, FlowrouteConfig, OutboundSms, SendSmsError, SmsCarrier, TwilioCarrier,
    TwilioConfig,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const SENDER: &str = "+15550001000";
/// Numbers ending in 0 never reply, so most tests see only their own messages.
const QUIET: &str = "+15550000010";
const TIMEOUT: Duration = Duration::from_secs(5);

/// The carrier sim with its default credentials; replies go to a closed port.
struct Sim {
    address: String,
    client: reqwest::Client,
    stop: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl Sim {
    async fn start() -> anyhow::Result<Self> {
        // Inbound webhooks (the callee's replies) go nowhere: these tests only send.
        let closed = TcpListener::bind("127.0.0.1:0")?;
        let closed_url = format!("http://127.0.0.1:{}/", closed.local_addr()?.port());
        drop(closed);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let config = carrier_sim::Config {
            http_port: 0,
            flowroute_inbound_url: closed_url.clone(),
            twilio_inbound_url: closed_url,
            sms_retry_backoff: Duration::from_millis(5),
            ..carrier_sim::Config::default()
        };
        let sim = carrier_sim::Application::build_with_listener(config, listener).await?;
        let address = format!("http://127.0.0.1:{}", sim.port());
        let stop = CancellationToken::new();
        let handle = tokio::spawn(sim.run_until_stopped(stop.clone().cancelled_owned()));
        Ok(Self {
            address,
            client: reqwest::Client::builder().no_proxy().build()?,
            stop,
            handle,
        })
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.handle.await?
    }

    fn flowroute(&self, secret: &str, timeout: Duration) -> anyhow::Result<FlowrouteCarrier> {
        FlowrouteCarrier::new(&FlowrouteConfig {
            api_url: format!("{}/flowroute/v2.1", self.address),
            access_key: "sim-access".to_owned(),
            secret_key: Secret::new(secret),
            request_timeout: timeout,
        })
    }

    fn twilio(&self, token: &str, timeout: Duration) -> anyhow::Result<TwilioCarrier> {
        TwilioCarrier::new(&TwilioConfig {
            api_url: format!("{}/twilio/2010-04-01", self.address),
            account_sid: "AC_SIM".to_owned(),
            auth_token: Secret::new(token),
            request_timeout: timeout,
        })
    }

    async fn messages(&self, query: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .client
            .get(format!("{}/sim/messages{query}", self.address))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn fault(&self, fault: Value) -> anyhow::Result<()> {
        self.client
            .put(format!("{}/sim/sms/faults", self.address))
            .json(&fault)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}

fn sms(to: &str, body: &str) -> OutboundSms {
    OutboundSms {
        message_id: uuid::Uuid::now_v7(),
        from: SENDER.to_owned(),
        to: to.to_owned(),
        body: body.to_owned(),
        status_callback_url: None,
    }
}

fn is_hex_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == 32 && hex.chars().all(|character| character.is_ascii_hexdigit())
    })
}

#[tokio::test]
async fn flowroute_sends_and_returns_the_message_id() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let carrier = sim.flowroute("sim-secret", TIMEOUT)?;
    assert_eq!(carrier.name(), "flowroute");

    let mut message = sms(QUIET, "Reminder: Tue 10:00 at Acme. Reply Yes or No");
    message.status_callback_url = Some("http://127.0.0.1:9/dlr".to_owned());
    let sent = carrier.send(&message).await.unwrap();
    let provider_ref = sent.provider_ref.unwrap();
    assert!(is_hex_id(&provider_ref, "mdr2-"), "{provider_ref}");
    // Flowroute's answer carries no segment count.
    assert_eq!(sent.segments, None);

    let recorded = sim.messages("?direction=outbound").await?;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["id"], provider_ref.as_str());
    assert_eq!(recorded[0]["api"], "flowroute");
    assert_eq!(recorded[0]["from"], SENDER);
    assert_eq!(recorded[0]["to"], QUIET);
    assert_eq!(recorded[0]["body"], message.body.as_str());
    assert_eq!(recorded[0]["status_callback"], "http://127.0.0.1:9/dlr");
    sim.stop().await
}

#[tokio::test]
async fn twilio_sends_and_returns_the_sid_and_segments() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let carrier = sim.twilio("sim-twilio-token", TIMEOUT)?;
    assert_eq!(carrier.name(), "twilio");

    let long = "a".repeat(161);
    let sent = carrier.send(&sms(QUIET, &long)).await.unwrap();
    let provider_ref = sent.provider_ref.unwrap();
    assert!(is_hex_id(&provider_ref, "SM"), "{provider_ref}");
    assert_eq!(sent.segments, Some(2));

    let unicode = carrier.send(&sms(QUIET, "Bis bald 👋")).await.unwrap();
    assert_eq!(unicode.segments, Some(1));

    let mut with_callback = sms(QUIET, "Hi");
    with_callback.status_callback_url = Some("http://127.0.0.1:9/status".to_owned());
    carrier.send(&with_callback).await.unwrap();

    let recorded = sim.messages("?direction=outbound").await?;
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0]["id"], provider_ref.as_str());
    assert_eq!(recorded[0]["api"], "twilio");
    assert_eq!(recorded[0]["segments"], 2);
    assert_eq!(recorded[0]["encoding"], "GSM-7");
    assert_eq!(recorded[1]["encoding"], "UCS-2");
    assert_eq!(recorded[2]["status_callback"], "http://127.0.0.1:9/status");
    sim.stop().await
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let flowroute = sim.flowroute("sim-secret", TIMEOUT)?;
    let twilio = sim.twilio("sim-twilio-token", TIMEOUT)?;
    for status in [429, 503] {
        sim.fault(json!({"api": null, "status": status, "count": 2}))
            .await?;
        let error = flowroute.send(&sms(QUIET, "Hi")).await.unwrap_err();
        assert!(
            matches!(&error, SendSmsError::Retryable(detail) if detail.contains(&status.to_string())),
            "{error:?}"
        );
        let error = twilio.send(&sms(QUIET, "Hi")).await.unwrap_err();
        assert!(matches!(error, SendSmsError::Retryable(_)), "{error:?}");
    }
    assert!(sim.messages("").await?.is_empty());
    sim.stop().await
}

#[tokio::test]
async fn bad_credentials_and_bad_requests_are_refused() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let error = sim
        .flowroute("wrong", TIMEOUT)?
        .send(&sms(QUIET, "Hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SendSmsError::Refused(detail) if detail.starts_with("http 401")),
        "{error:?}"
    );
    let error = sim
        .twilio("wrong", TIMEOUT)?
        .send(&sms(QUIET, "Hi"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SendSmsError::Refused(detail) if detail.contains("twilio 20003")),
        "{error:?}"
    );

    let invalid = sms("+0123", "Hi");
    let error = sim
        .flowroute("sim-secret", TIMEOUT)?
        .send(&invalid)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SendSmsError::Refused(detail) if detail.starts_with("http 422")),
        "{error:?}"
    );
    let error = sim
        .twilio("sim-twilio-token", TIMEOUT)?
        .send(&invalid)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, SendSmsError::Refused(detail) if detail.starts_with("http 400: twilio 21211")),
        "{error:?}"
    );
    // An injected 400 without a Twilio code is refused too.
    sim.fault(json!({"api": "twilio", "status": 400})).await?;
    let error = sim
        .twilio("sim-twilio-token", TIMEOUT)?
        .send(&sms(QUIET, "Hi"))
        .await
        .unwrap_err();
    assert!(matches!(error, SendSmsError::Refused(_)), "{error:?}");
    assert!(sim.messages("").await?.is_empty());
    sim.stop().await
}

#[tokio::test]
async fn a_twilio_recipient_who_texted_stop_is_an_opt_out() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let twilio = sim.twilio("sim-twilio-token", TIMEOUT)?;
    // A number ending in 3 answers the first message with STOP.
    let subscriber = "+15550000003";
    twilio
        .send(&sms(subscriber, "Reply Yes or No"))
        .await
        .unwrap();
    attend_test_support::wait_until(Duration::from_secs(10), "the STOP reply", || async {
        let inbound = sim.messages("?direction=inbound").await.ok()?;
        (!inbound.is_empty()).then_some(())
    })
    .await?;

    let error = twilio
        .send(&sms(subscriber, "Are you still there?"))
        .await
        .unwrap_err();
    match error {
        SendSmsError::RecipientOptedOut(detail) => {
            assert!(detail.starts_with("twilio 21610"), "{detail}");
            assert!(!detail.contains("15550000003"), "{detail}");
        }
        other => panic!("expected an opt-out, got {other:?}"),
    }
    // Flowroute leaves STOP to us: it still sends.
    sim.flowroute("sim-secret", TIMEOUT)?
        .send(&sms(subscriber, "Hi"))
        .await
        .unwrap();
    sim.stop().await
}

#[tokio::test]
async fn a_slow_carrier_times_out_as_retryable() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    sim.fault(json!({"api": null, "delay_ms": 1500, "count": 2}))
        .await?;
    let started = Instant::now();
    let error = sim
        .flowroute("sim-secret", Duration::from_millis(200))?
        .send(&sms(QUIET, "Hi"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SendSmsError::Retryable("request timed out".to_owned())
    );
    let error = sim
        .twilio("sim-twilio-token", Duration::from_millis(200))?
        .send(&sms(QUIET, "Hi"))
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SendSmsError::Retryable("request timed out".to_owned())
    );
    assert!(started.elapsed() < Duration::from_millis(1400));
    sim.stop().await
}

#[tokio::test]
async fn an_unreachable_carrier_is_retryable() -> anyhow::Result<()> {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let carrier = FlowrouteCarrier::new(&FlowrouteConfig {
        api_url: format!("http://127.0.0.1:{port}/flowroute/v2.1"),
        access_key: "sim-access".to_owned(),
        secret_key: Secret::new("sim-secret"),
        request_timeout: TIMEOUT,
    })
    .unwrap();
    let error = carrier.send(&sms(QUIET, "Hi")).await.unwrap_err();
    assert!(
        matches!(&error, SendSmsError::Retryable(detail) if detail.starts_with("cannot connect")),
        "{error:?}"
    );
    let carrier = TwilioCarrier::new(&TwilioConfig {
        api_url: format!("http://127.0.0.1:{port}/twilio/2010-04-01"),
        account_sid: "AC_SIM".to_owned(),
        auth_token: Secret::new("sim-twilio-token"),
        request_timeout: TIMEOUT,
    })
    .unwrap();
    let error = carrier.send(&sms(QUIET, "Hi")).await.unwrap_err();
    assert!(matches!(error, SendSmsError::Retryable(_)), "{error:?}");
    Ok(())
}

#[tokio::test]
async fn the_carriers_work_behind_the_trait_object() -> anyhow::Result<()> {
    let sim = Sim::start().await?;
    let carriers: Vec<Box<dyn SmsCarrier>> = vec![
        Box::new(sim.flowroute("sim-secret", TIMEOUT)?),
        Box::new(sim.twilio("sim-twilio-token", TIMEOUT)?),
    ];
    for carrier in &carriers {
        let sent = carrier.send(&sms(QUIET, "Hi")).await.unwrap();
        assert!(sent.provider_ref.is_some(), "{}", carrier.name());
    }
    assert_eq!(sim.messages("?to=15550000010").await?.len(), 2);
    sim.stop().await
}
