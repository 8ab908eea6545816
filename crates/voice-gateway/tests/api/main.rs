//! API tests of voice-gateway: real Postgres and RabbitMQ, the carrier sim in-process.

mod batches;
mod calls;
mod carrier_failures;
mod helpers;
mod idempotency;
mod outcomes;
mod robocall_api;
mod webhook_security;
mod workflows;
