//! A transaction whose `BEGIN` goes out with its first statement, in one round trip.
//!
//! A short write transaction spends much of its time, in the service and in Postgres alike,
//! on round trips rather than on statements (docs/benchmarks.md, item 2). diesel-async sends
//! `BEGIN` on its own and waits for the answer before the first statement. It also
//! pipelines futures polled together on one `&AsyncPgConnection`, so [`PipelinedTransaction`]
//! sends `BEGIN` and the first statement together: a booking that was `BEGIN`, a statement,
//! the inserts, `COMMIT` is three round trips instead of four.
//!
//! **Why `COMMIT` still goes alone.** diesel-async issues a statement that is not yet
//! prepared on the connection in two steps: the prepare, then, once its answer is back, the
//! execution. A `COMMIT` polled together with such a statement is issued between the two,
//! and the statement then runs after the commit, outside the transaction
//! (`tests/pipelined.rs` showed exactly that in a first version that sent `COMMIT` with the
//! last writes). `BEGIN` has no such problem: it is issued first, before anything that
//! follows it is.
//!
//! What stays true:
//! - **A dropped future never leaks a transaction.** diesel's transaction manager is told of
//!   the transaction before `BEGIN` is sent and only after it ended, so a connection given
//!   back in between counts as broken and the pool discards it (Postgres then rolls back).
//! - **Savepoints work**: `AsyncConnection::transaction` on [`PipelinedTransaction::connection`]
//!   sees depth 1, as inside diesel's own transaction.
//!
//! Telling diesel's transaction manager of a transaction it did not begin needs its
//! third-party-backend API (`TransactionManagerStatus::transaction_state`), which this crate
//! opts into in its Cargo.toml.

use diesel::connection::{TransactionDepthChange, TransactionManagerStatus};
use diesel::result::Error;
use diesel_async::{
    AnsiTransactionManager, AsyncPgConnection, SimpleAsyncConnection, TransactionManager,
};

/// A transaction whose `BEGIN` shares a round trip with its first statement; see the
/// module's documentation.
pub struct PipelinedTransaction<'c> {
    connection: &'c mut AsyncPgConnection,
    state: State,
}

impl std::fmt::Debug for PipelinedTransaction<'_> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PipelinedTransaction")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ours; `BEGIN` not sent yet.
    Pending,
    /// Ours; `BEGIN` sent.
    Open,
    /// Ours, and over.
    Ended,
    /// The caller's transaction: nothing is begun or ended here.
    Outer,
}

impl<'c> PipelinedTransaction<'c> {
    /// Starts a transaction on `connection`, which must not be in one. Nothing is sent yet:
    /// `BEGIN` goes out with the first statement. End it with [`Self::commit`] or
    /// [`Self::rollback`].
    pub fn begin(connection: &'c mut AsyncPgConnection) -> Result<Self, Error> {
        if status(connection).transaction_depth()?.is_some() {
            return Err(Error::AlreadyInTransaction);
        }
        change_depth(connection, TransactionDepthChange::IncreaseDepth)?;
        Ok(Self {
            connection,
            state: State::Pending,
        })
    }

    /// Runs `work` in a transaction begun on `connection`: commits when it succeeds, rolls
    /// back when it fails and returns its error (a rollback that fails too leaves the
    /// connection marked broken, so the pool discards it).
    pub async fn run<T, E>(
        connection: &'c mut AsyncPgConnection,
        work: impl for<'t> AsyncFnOnce(&'t mut PipelinedTransaction<'c>) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
    {
        let mut transaction = Self::begin(connection)?;
        let outcome = work(&mut transaction).await;
        match &outcome {
            Ok(_) => transaction.commit().await?,
            Err(_) => {
                if let Err(error) = transaction.rollback().await {
                    tracing::warn!(error.message = %error, "rollback failed");
                }
            }
        }
        outcome
    }

    /// Works inside the caller's transaction on `connection`: statements go out as given, and
    /// [`Self::commit`] and [`Self::rollback`] send nothing.
    pub fn within(connection: &'c mut AsyncPgConnection) -> Self {
        Self {
            connection,
            state: State::Outer,
        }
    }

    /// Runs `statement` with `BEGIN` ahead of it in the same round trip when `BEGIN` was not
    /// sent yet (and simply runs it when it was). Statements that `statement` polls together
    /// are pipelined as well.
    pub async fn first_statement<T, E>(
        &mut self,
        statement: impl AsyncFnOnce(&AsyncPgConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<Error>,
    {
        self.usable()?;
        let shared: &AsyncPgConnection = self.connection;
        if self.state != State::Pending {
            return statement(shared).await;
        }
        let mut begin_on = shared;
        let (begun, result) =
            futures_util::join!(begin_on.batch_execute("BEGIN"), statement(shared));
        if let Err(error) = begun {
            // Only a failing connection fails BEGIN, and then the statement failed too.
            self.abandon();
            return Err(error.into());
        }
        self.state = State::Open;
        result
    }

    /// The connection, for statements sent one at a time (and savepoints); sends `BEGIN`
    /// first when it was not sent yet.
    pub async fn connection(&mut self) -> Result<&mut AsyncPgConnection, Error> {
        self.usable()?;
        if self.state == State::Pending {
            if let Err(error) = self.connection.batch_execute("BEGIN").await {
                self.abandon();
                return Err(error);
            }
            self.state = State::Open;
        }
        Ok(self.connection)
    }

    /// The connection without sending `BEGIN`: for reads that may run before the
    /// transaction begins. Under READ COMMITTED every statement reads its own snapshot, in a
    /// transaction or not, so such a read sees what it would have seen inside. Never write
    /// through it.
    pub fn connection_for_reads(&mut self) -> Result<&mut AsyncPgConnection, Error> {
        self.usable()?;
        Ok(self.connection)
    }

    /// Commits: sends `COMMIT` if `BEGIN` was sent; a transaction that sent nothing ends
    /// without a round trip.
    pub async fn commit(self) -> Result<(), Error> {
        self.end("COMMIT").await
    }

    /// Rolls back: sends `ROLLBACK` if `BEGIN` was sent.
    pub async fn rollback(self) -> Result<(), Error> {
        self.end("ROLLBACK").await
    }

    async fn end(mut self, sql: &str) -> Result<(), Error> {
        match self.state {
            State::Pending => {
                self.state = State::Ended;
                change_depth(self.connection, TransactionDepthChange::DecreaseDepth)
            }
            State::Open => match self.connection.batch_execute(sql).await {
                Ok(()) => {
                    self.state = State::Ended;
                    change_depth(self.connection, TransactionDepthChange::DecreaseDepth)
                }
                Err(error) => {
                    self.abandon();
                    Err(error)
                }
            },
            State::Ended | State::Outer => Ok(()),
        }
    }

    /// Refuses statements after the transaction ended: they would run outside it.
    fn usable(&self) -> Result<(), Error> {
        match self.state {
            State::Ended => Err(Error::NotInTransaction),
            _ => Ok(()),
        }
    }

    /// Marks the connection broken, so that the pool discards it.
    fn abandon(&mut self) {
        self.state = State::Ended;
        status(self.connection).set_in_error();
    }
}

fn status(connection: &mut AsyncPgConnection) -> &mut TransactionManagerStatus {
    <AnsiTransactionManager as TransactionManager<AsyncPgConnection>>::transaction_manager_status_mut(
        connection,
    )
}

fn change_depth(
    connection: &mut AsyncPgConnection,
    change: TransactionDepthChange,
) -> Result<(), Error> {
    status(connection)
        .transaction_state()?
        .change_transaction_depth(change)
}
