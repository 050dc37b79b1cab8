//! `UPDATE … SET … WHERE … [RETURNING …]` that stays in the connection's prepared-statement
//! cache.
//!
//! diesel never caches an UPDATE: a changeset of optional fields writes different SQL for one
//! Rust type, so it cannot be cached by type, and diesel does not try by text. Each update is
//! then parsed and planned anew by PostgreSQL, in an extra round trip; in the benchmark's
//! Refresh (two updates per call), parsing and planning were a sixth of PostgreSQL's CPU. An
//! update built here is cached by its SQL text instead: one entry per shape, and a statement
//! with a fixed set of columns has one shape.

use diesel::expression::AppearsOnTable;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDslSupport;
use diesel::sql_types::Bool;

/// `UPDATE table SET changes WHERE filter`, then `returning` (nothing, or a [`Returning`]).
/// Without `RETURNING`, run it with diesel-async's `execute` (how many rows it changed); with
/// it, with `get_result` and the rest.
#[derive(Debug, Clone)]
pub struct CachedUpdate<Table, Changes, Filter, Returning = ()> {
    table: Table,
    changes: Changes,
    filter: Filter,
    returning: Returning,
}

/// The `RETURNING` clause of a [`CachedUpdate`].
#[derive(Debug, Clone)]
pub struct Returning<Selection>(Selection);

/// `UPDATE table SET set WHERE filter`, kept in the prepared-statement cache.
pub fn update<Table, Set, Filter>(table: Table, set: Set, filter: Filter) -> CachedUpdate<Table, Set::Changeset, Filter>
where
    Table: diesel::Table,
    Set: AsChangeset<Target = Table>,
    Filter: Expression<SqlType = Bool> + AppearsOnTable<Table>,
{
    CachedUpdate { table, changes: set.as_changeset(), filter, returning: () }
}

impl<Table, Changes, Filter> CachedUpdate<Table, Changes, Filter> {
    /// Returns `selection` of each changed row (`RETURNING`).
    pub fn returning<Selection>(
        self,
        selection: Selection,
    ) -> CachedUpdate<Table, Changes, Filter, Returning<Selection>>
    where
        Selection: SelectableExpression<Table>,
    {
        let Self { table, changes, filter, returning: () } = self;
        CachedUpdate { table, changes, filter, returning: Returning(selection) }
    }
}

impl<Table, Changes, Filter, Returning> QueryFragment<Pg> for CachedUpdate<Table, Changes, Filter, Returning>
where
    Table: QueryFragment<Pg>,
    Changes: QueryFragment<Pg>,
    Filter: QueryFragment<Pg>,
    Returning: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())?;
        self.returning.walk_ast(out)
    }
}

impl<Selection: QueryFragment<Pg>> QueryFragment<Pg> for Returning<Selection> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" RETURNING ");
        self.0.walk_ast(out)
    }
}

/// No static id: the cache keys the statement by its SQL text.
impl<Table, Changes, Filter, Returning> QueryId for CachedUpdate<Table, Changes, Filter, Returning> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// With `RETURNING`, the update is a query of the selection's type.
impl<Table, Changes, Filter, Selection> Query for CachedUpdate<Table, Changes, Filter, Returning<Selection>>
where
    Selection: Expression,
{
    type SqlType = Selection::SqlType;
}

/// Lets it run like diesel's own statements.
impl<Table, Changes, Filter, Returning> RunQueryDslSupport for CachedUpdate<Table, Changes, Filter, Returning> {}
