//! What a run measures and for how long: the concurrency levels, the timings, the ceilings.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::BenchArgs;

/// A load shape: `in_flight` calls kept going at once, spread evenly over `connections`
/// HTTP/2 connections (each its own TCP connection).
///
/// `4×64` is 64 calls in flight over 4 connections (16 on each), not 64 on each: the echo
/// figures this benchmark was asked to reproduce (47.4k rps at 4×64 with a p99 of 4.5 ms) only
/// fit Little's law that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Level {
    /// HTTP/2 connections.
    pub connections: usize,
    /// Calls in flight in total.
    pub in_flight: usize,
}

impl Level {
    /// `connections × in_flight`.
    pub const fn new(connections: usize, in_flight: usize) -> Self {
        Self { connections, in_flight }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}", self.connections, self.in_flight)
    }
}

/// The levels a full run sweeps the cheap RPCs over (those of the echo figures in the issue).
const FULL_LEVELS: [Level; 4] = [Level::new(1, 1), Level::new(1, 16), Level::new(4, 64), Level::new(8, 256)];
/// Where targets are judged, and the only level of a quick run.
const PRIMARY: Level = Level::new(4, 64);
/// Logins: enough in flight to keep every hashing slot busy, few enough never to hit the
/// 10 s hashing queue timeout (16 logins at ~80/s wait ~0.2 s).
const LOGIN: Level = Level::new(1, 16);
/// pgbench's client count, as in the figures of the issue.
pub const PGBENCH_CLIENTS: usize = 16;

/// The whole run's shape.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Unmeasured time at the start of every scenario.
    pub warmup: Duration,
    /// Measured time of every scenario (and of each pgbench run and the argon2id rate).
    pub measure: Duration,
    /// Levels of ValidateToken, GetResource, ListResources, CreateResource and UpdateResource.
    pub levels: Vec<Level>,
    /// Level of Refresh, of the mixed scenario's ValidateToken, and of the judged targets.
    pub primary: Level,
    /// Level of logins (alone and in the mixed scenario).
    pub login: Level,
    /// Passes over the scenarios (`--rounds`).
    pub rounds: u32,
    /// Scenario name filters (`--only`), lower-cased; empty runs everything.
    pub only: Vec<String>,
    /// The soak's length, if any.
    pub soak: Option<Duration>,
    /// Whether this is a `--quick` run.
    pub quick: bool,
}

impl Plan {
    /// The plan `args` ask for.
    pub fn from_args(args: &BenchArgs) -> Self {
        let (warmup, measure, levels) = if args.quick {
            (Duration::from_secs(1), Duration::from_secs(3), vec![PRIMARY])
        } else {
            (Duration::from_secs(2), Duration::from_secs(10), FULL_LEVELS.to_vec())
        };
        Self {
            warmup: args.warmup.unwrap_or(warmup),
            measure: args.duration.unwrap_or(measure),
            levels,
            primary: PRIMARY,
            login: LOGIN,
            rounds: args.rounds,
            only: args.only.iter().map(|name| name.to_lowercase()).collect(),
            soak: args.soak,
            quick: args.quick,
        }
    }

    /// Whether the scenario called `name` is to run.
    pub fn wants(&self, name: &str) -> bool {
        let name = name.to_lowercase();
        self.only.is_empty() || self.only.iter().any(|filter| name.contains(filter.as_str()))
    }

    /// Every level any scenario runs at (the echo ceiling is measured at each).
    pub fn all_levels(&self) -> Vec<Level> {
        let mut levels = self.levels.clone();
        levels.extend([self.primary, self.login]);
        levels.sort();
        levels.dedup();
        levels
    }
}
