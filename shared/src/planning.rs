//! How PostgreSQL plans the prepared statements of a connection.
//!
//! diesel-async prepares every statement it caches, and PostgreSQL then decides per call
//! whether to reuse one plan made without the parameter values (a generic plan) or to plan
//! again with them (a custom plan). A page with a bound `LIMIT` is easily planned again on
//! every call: the generic plan is costed as if a tenth of the matching rows were fetched, so
//! a custom plan looks cheaper (it did for the resource service's owner pages). Planning then
//! takes about half of PostgreSQL's CPU per page, and a plan made for one owner's figures can
//! be the wrong one (see `store::list` of the resource service). Statements whose best plan is
//! the same for every value (lookups by key, one owner's page through its index) are better
//! planned once per connection.

/// Which plans a connection's prepared statements get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Planning {
    /// PostgreSQL's choice per call (`plan_cache_mode = auto`, the server's default unless the
    /// database URL sets another).
    #[default]
    ServerDefault,
    /// One generic plan per statement and connection (`plan_cache_mode = force_generic_plan`).
    /// Only for connections whose statements have the same best plan for every value.
    OncePerConnection,
}

impl Planning {
    /// The server setting this choice needs (`name=value`), if any. The shared connections
    /// `SET` it once after connecting rather than sending it as a startup option, which poolers
    /// such as PgBouncer refuse unless told to ignore it.
    pub fn setting(self) -> Option<&'static str> {
        match self {
            Self::ServerDefault => None,
            Self::OncePerConnection => Some("plan_cache_mode=force_generic_plan"),
        }
    }
}
