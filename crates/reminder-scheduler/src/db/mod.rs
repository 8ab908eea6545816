//! The scheduler's tables and embedded migrations.

use diesel_migrations::{EmbeddedMigrations, embed_migrations};

pub mod schema;

/// The scheduler's migrations, run after the runtime's outbox and inbox at start-up.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");
