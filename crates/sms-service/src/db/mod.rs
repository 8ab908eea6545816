//! The `sms` schema: diesel table definitions and embedded migrations.

pub mod schema;

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

/// The service's own migrations, run into the `sms` schema at start-up.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
