//! sms-service against real Postgres and RabbitMQ, with the carrier sim in-process.

mod helpers;
mod kinds;
mod races;
mod replies;
mod sending;
mod webhooks;
