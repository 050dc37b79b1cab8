//! Client-side balancing over every address a service's DNS name resolves to.
//!
//! One HTTP/2 connection to a Kubernetes ClusterIP Service pins every call to one pod. Behind a
//! *headless* Service the name resolves to every pod's address instead; [`connect_balanced`]
//! keeps one connection per address, spreads calls over them (power of two choices on load) and
//! re-resolves the name periodically, so pods that come and go are picked up.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use http::Uri;
use tokio::sync::mpsc::Sender;
use tonic::transport::Channel;
use tonic::transport::channel::Change;

use crate::connect::{ClientConfig, ConnectError, TlsConfig};

/// A channel balanced over every address `url`'s host resolves to, re-resolved every
/// `refresh`. TLS certificates are still checked against the host name. Calls made before the
/// first resolution wait for it (within their deadline). Needs a running tokio runtime.
pub fn connect_balanced(url: &str, config: &ClientConfig, refresh: Duration) -> Result<Channel, ConnectError> {
    // Validates the URL and the TLS settings once, with the errors of a plain connect.
    config.endpoint(url)?;
    let invalid = |problem: &str| ConnectError::InvalidUrl { url: url.to_owned(), problem: problem.to_owned() };
    let uri: Uri = url.parse().map_err(|_| invalid("does not parse"))?;
    let host = uri.host().ok_or_else(|| invalid("it names no host"))?.to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let mut per_address = config.clone();
    if https {
        let tls = per_address.tls.get_or_insert_with(TlsConfig::default);
        tls.domain_name.get_or_insert_with(|| host.clone());
    }
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let resolver = Resolver { host, port, scheme: if https { "https" } else { "http" }, config: per_address, refresh };
    tokio::spawn(resolver.run(changes));
    Ok(channel)
}

struct Resolver {
    host: String,
    port: u16,
    scheme: &'static str,
    config: ClientConfig,
    refresh: Duration,
}

impl Resolver {
    async fn run(self, changes: Sender<Change<SocketAddr, tonic::transport::Endpoint>>) {
        let mut current = BTreeSet::new();
        loop {
            match tokio::net::lookup_host((self.host.as_str(), self.port)).await {
                Ok(addresses) => {
                    let next: BTreeSet<SocketAddr> = addresses.collect();
                    let (added, removed) = difference(&current, &next);
                    for address in removed {
                        if changes.send(Change::Remove(address)).await.is_err() {
                            return;
                        }
                    }
                    for address in added {
                        match self.config.endpoint(&format!("{}://{address}", self.scheme)) {
                            Ok(endpoint) => {
                                if changes.send(Change::Insert(address, endpoint)).await.is_err() {
                                    return;
                                }
                            }
                            Err(error) => tracing::warn!(%address, %error, "cannot make an endpoint"),
                        }
                    }
                    if next != current {
                        tracing::info!(host = %self.host, addresses = next.len(), "balancing over resolved addresses");
                    }
                    current = next;
                }
                // Keep the addresses known so far; DNS hiccups must not empty the set.
                Err(error) => tracing::warn!(host = %self.host, %error, "cannot resolve; keeping the known addresses"),
            }
            tokio::select! {
                () = tokio::time::sleep(self.refresh) => {}
                () = changes.closed() => return,
            }
        }
    }
}

/// Addresses to add and to remove to go from `current` to `next`.
fn difference(current: &BTreeSet<SocketAddr>, next: &BTreeSet<SocketAddr>) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    (next.difference(current).copied().collect(), current.difference(next).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addresses: &[&str]) -> BTreeSet<SocketAddr> {
        addresses.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn pods_that_come_and_go_become_inserts_and_removals() {
        let (added, removed) =
            difference(&set(&["10.0.0.1:50051", "10.0.0.2:50051"]), &set(&["10.0.0.2:50051", "10.0.0.3:50051"]));
        assert_eq!(added, vec!["10.0.0.3:50051".parse::<SocketAddr>().unwrap()]);
        assert_eq!(removed, vec!["10.0.0.1:50051".parse::<SocketAddr>().unwrap()]);
        let (added, removed) = difference(&set(&["10.0.0.1:50051"]), &set(&["10.0.0.1:50051"]));
        assert!(added.is_empty() && removed.is_empty());
    }
}
