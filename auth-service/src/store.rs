//! Queries, one function each, over a borrowed connection so callers choose the transaction.

pub mod sessions;
pub mod users;

/// The connection type every query takes.
pub type Conn = diesel_async::AsyncPgConnection;
