//! Queries, one function each, over a borrowed connection so callers choose the transaction.
//!
//! Each takes the connection by shared reference and runs its statement through
//! `&mut &AsyncPgConnection` (written `&mut { conn }`), so a caller can pipeline independent
//! statements on one connection by awaiting them together (`futures::try_join!`).

pub mod sessions;
pub mod users;

/// The connection type every query takes.
pub type Conn = diesel_async::AsyncPgConnection;
