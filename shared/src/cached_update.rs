//! `UPDATE … SET … WHERE …` that stays in the connection's prepared-statement cache.
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
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::RunQueryDslSupport;
use diesel::sql_types::Bool;

/// `UPDATE table SET changes WHERE filter`, run with diesel-async's `execute`.
#[derive(Debug, Clone)]
pub struct CachedUpdate<Table, Changes, Filter> {
    table: Table,
    changes: Changes,
    filter: Filter,
}

/// `UPDATE table SET set WHERE filter`, kept in the prepared-statement cache; run it with
/// `execute` (how many rows it changed).
pub fn update<Table, Set, Filter>(table: Table, set: Set, filter: Filter) -> CachedUpdate<Table, Set::Changeset, Filter>
where
    Table: diesel::Table,
    Set: AsChangeset<Target = Table>,
    Filter: Expression<SqlType = Bool> + AppearsOnTable<Table>,
{
    CachedUpdate { table, changes: set.as_changeset(), filter }
}

impl<Table, Changes, Filter> QueryFragment<Pg> for CachedUpdate<Table, Changes, Filter>
where
    Table: QueryFragment<Pg>,
    Changes: QueryFragment<Pg>,
    Filter: QueryFragment<Pg>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        self.table.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        self.changes.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE ");
        self.filter.walk_ast(out.reborrow())
    }
}

/// No static id: the cache keys the statement by its SQL text.
impl<Table, Changes, Filter> QueryId for CachedUpdate<Table, Changes, Filter> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Lets it run like diesel's own statements.
impl<Table, Changes, Filter> RunQueryDslSupport for CachedUpdate<Table, Changes, Filter> {}
