//! Rows and queries of the `booking` schema.

use diesel_async::AsyncPgConnection;
use futures_util::future::BoxFuture;

pub mod appointments;
pub mod catalog;
pub mod reminder_calls;
pub mod reminder_outcomes;
pub mod reminder_policies;
pub mod scheduling;
pub mod schema;
pub mod tenant_settings;
pub mod tenants;

/// Runs `read` in one `READ ONLY REPEATABLE READ` transaction, so an answer built from several
/// statements shows one moment. Read apart, a reply applied between an appointment's read and
/// its reminders' showed a cancelled reminder on a still scheduled appointment.
pub async fn read_snapshot<T, E, F>(connection: &mut AsyncPgConnection, read: F) -> Result<T, E>
where
    F: for<'c> FnOnce(&'c mut AsyncPgConnection) -> BoxFuture<'c, Result<T, E>> + Send,
    T: Send,
    E: From<diesel::result::Error> + Send,
{
    connection
        .build_transaction()
        .read_only()
        .repeatable_read()
        .run(async move |connection| read(connection).await)
        .await
}
