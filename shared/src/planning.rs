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
    /// Adds this choice to the options the connection sends at startup, after any the
    /// database URL already sets (the last setting of a name wins).
    pub fn apply_to(self, config: &mut tokio_postgres::Config) {
        let Self::OncePerConnection = self else { return };
        let setting = "-c plan_cache_mode=force_generic_plan";
        let options = match config.get_options() {
            Some(given) if !given.trim().is_empty() => format!("{given} {setting}"),
            _ => setting.to_owned(),
        };
        config.options(&options);
    }
}

#[cfg(test)]
mod tests {
    use super::Planning;

    fn options_after(url: &str, planning: Planning) -> Option<String> {
        let mut config: tokio_postgres::Config = url.parse().ok()?;
        planning.apply_to(&mut config);
        config.get_options().map(str::to_owned)
    }

    #[test]
    fn once_per_connection_adds_the_setting_after_the_urls_own_options() {
        let plain = "postgres://app@db/app";
        assert_eq!(options_after(plain, Planning::ServerDefault), None);
        assert_eq!(
            options_after(plain, Planning::OncePerConnection).as_deref(),
            Some("-c plan_cache_mode=force_generic_plan")
        );
        let with_options = "postgres://app@db/app?options=-c%20statement_timeout%3D5s";
        assert_eq!(
            options_after(with_options, Planning::OncePerConnection).as_deref(),
            Some("-c statement_timeout=5s -c plan_cache_mode=force_generic_plan")
        );
        assert_eq!(options_after(with_options, Planning::ServerDefault).as_deref(), Some("-c statement_timeout=5s"));
    }
}
