//! Hand-written SQL that is prepared once per connection, like a query built with diesel's
//! DSL.
//!
//! `diesel::sql_query` marks itself unsafe to cache, so diesel-async prepares it again on
//! every execution: one round trip to parse it, a second to run it, and a fresh plan each
//! time. For a statement on a hot path that doubles its round trips (measured on booking's
//! customer statement: 0.40 ms of Postgres time against 0.10 ms prepared once;
//! docs/benchmarks.md, item 2). [`PreparedSql`] is cached by its text, which must therefore
//! be one of the code's constants: the statement cache holds one entry per distinct text for
//! the connection's life.

use std::marker::PhantomData;

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use diesel::{QueryResult, result::Error};

/// A statement written as text, with its parameters numbered `$1`, `$2`, ... in the order
/// they are [bound](PreparedSql::bind); a parameter may be named more than once. Rows load
/// into `QueryableByName` types, as with `diesel::sql_query`.
///
/// The text must not hold a `$` other than these placeholders (no dollar quoting, no `$` in
/// a literal).
pub struct PreparedSql<'a> {
    sql: &'static str,
    binds: Vec<Box<dyn PushBind + Send + Sync + 'a>>,
}

impl<'a> PreparedSql<'a> {
    /// Starts a statement with the text `sql`.
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            binds: Vec::new(),
        }
    }

    /// Binds the next parameter, `$n` for the n-th call, as SQL type `T`.
    pub fn bind<T, U>(mut self, value: U) -> Self
    where
        Pg: HasSqlType<T>,
        T: 'static,
        U: ToSql<T, Pg> + Send + Sync + 'a,
    {
        self.binds.push(Box::new(Bound {
            value,
            sql_type: PhantomData::<fn() -> T>,
        }));
        self
    }
}

impl QueryFragment<Pg> for PreparedSql<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // diesel numbers the binds itself as it pushes them, so the text is cut at each
        // placeholder and the parameter it names is pushed there.
        let mut rest = self.sql;
        while let Some(at) = rest.find('$') {
            out.push_sql(&rest[..at]);
            let after = &rest[at + 1..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let number: usize = after[..digits]
                .parse()
                .map_err(|_| placeholder_error(self.sql, "a `$` not followed by a number"))?;
            let bind = number
                .checked_sub(1)
                .and_then(|index| self.binds.get(index))
                .ok_or_else(|| placeholder_error(self.sql, "a placeholder with no bound value"))?;
            bind.push(&mut out)?;
            rest = &after[digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

fn placeholder_error(sql: &str, what: &str) -> Error {
    Error::QueryBuilderError(format!("{what} in the statement {sql:?}").into())
}

impl QueryId for PreparedSql<'_> {
    type QueryId = ();
    // Not static: diesel-async then caches the statement by its text.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for PreparedSql<'_> {
    type SqlType = Untyped;
}

/// One bound value and the SQL type it is sent as.
trait PushBind {
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

struct Bound<T, U> {
    value: U,
    sql_type: PhantomData<fn() -> T>,
}

impl<T, U> PushBind for Bound<T, U>
where
    Pg: HasSqlType<T>,
    U: ToSql<T, Pg>,
{
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_bind_param::<T, U>(&self.value)
    }
}
