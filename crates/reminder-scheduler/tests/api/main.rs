//! API tests of reminder-scheduler against the real Postgres and RabbitMQ: each test runs
//! scheduler instances in-process on its own database and AMQP prefix.

mod dispatch;
mod exactness;
mod helpers;
mod kinds;
mod lifecycle;
mod operator_api;
mod outcomes;
mod policy;
