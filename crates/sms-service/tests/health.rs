//! sms-service starts against real Postgres and RabbitMQ, migrates, and reports ready.

use attend_runtime::Env;
use attend_test_support::TestEnv;
use sms_service::{Application, Config};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn it_migrates_and_reports_ready_then_stops_cleanly() {
    let env = TestEnv::new().await.unwrap();
    let config = Config::from_env(&Env::from_pairs(env.service_env())).unwrap();
    let application = Application::build(config).await.unwrap();
    let address = format!("http://127.0.0.1:{}", application.port());
    let stop = CancellationToken::new();
    let handle = tokio::spawn(application.run_until_stopped(stop.clone().cancelled_owned()));

    let ready = reqwest::get(format!("{address}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    let mut connection = env.connect("sms").await.unwrap();
    use diesel_async::RunQueryDsl;
    diesel::sql_query("SELECT 1 FROM opt_outs LIMIT 1")
        .execute(&mut connection)
        .await
        .unwrap();

    stop.cancel();
    handle.await.unwrap().unwrap();
    drop(connection);
    env.cleanup().await.unwrap();
}
