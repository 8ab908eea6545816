//! API tests of voice-gateway: real Postgres and RabbitMQ, the carrier sim in-process.

mod calls;
mod carrier_failures;
mod helpers;
mod idempotency;
mod outcomes;
mod webhook_security;
mod workflows;
