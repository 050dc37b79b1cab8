//! The targets of issue 6, each a ratio between two figures of the same run.

use serde::Serialize;

use super::pgbench::Statement;
use super::plan::Plan;
use super::report::{Report, ScenarioResult, names, processes};

/// Most RSS of an idle service, MiB.
const IDLE_RSS_MIB: f64 = 25.0;
/// Most RSS of a service under load, MiB.
const PEAK_RSS_MIB: f64 = 100.0;

/// One target and how the run did.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The target, in words.
    pub target: String,
    /// What was measured, in words.
    pub measured: String,
    /// Whether it was met.
    pub pass: bool,
}

/// Judges every target the run has figures for.
pub fn evaluate(report: &Report, plan: &Plan) -> Vec<Check> {
    let mut checks = Vec::new();
    for result in report.scenarios.iter().filter(|result| result.scenario == names::VALIDATE) {
        if let Some(ratio) = result.vs_echo {
            checks.push(at_least(result, "of echo's rps", ratio.rps, 0.50));
            checks.push(Check {
                target: format!("{} {}: p99 ≤ 3× echo's", result.scenario, result.level),
                measured: format!("{:.2} ms = {:.1}× echo's", result.stats.p99_ms, ratio.p99),
                pass: ratio.p99 <= 3.0,
            });
        }
    }
    for (scenario, minimum) in [(names::GET_CACHED, 0.35), (names::GET_UNCACHED, 0.20)] {
        for result in report.scenarios.iter().filter(|result| result.scenario == scenario) {
            if let Some(ratio) = result.vs_echo {
                checks.push(at_least(result, "of echo's rps", ratio.rps, minimum));
            }
        }
    }
    for (scenario, statement) in
        [(names::LIST, Statement::NewestLiveOfOwner), (names::CREATE, Statement::InsertReturning)]
    {
        let result = report.find(scenario, plan.primary);
        if let Some((result, ceiling)) = result.and_then(|result| Some((result, result.vs_baseline.as_ref()?))) {
            let what = format!("of pgbench {} ({:.0} tps)", statement.name(), ceiling.rate);
            checks.push(at_least(result, &what, ceiling.ratio, 0.60));
        }
    }
    if let Some((result, ceiling)) =
        report.find(names::LOGIN, plan.login).and_then(|result| Some((result, result.vs_baseline.as_ref()?)))
    {
        let what = format!("of the raw argon2id verify rate ({:.1}/s)", ceiling.rate);
        checks.push(at_least(result, &what, ceiling.ratio, 0.90));
    }
    if let (Some(idle), Some(busy)) =
        (report.find(names::VALIDATE, plan.primary), report.find(names::VALIDATE_UNDER_LOGINS, plan.primary))
    {
        let ratio = if idle.stats.p99_ms > 0.0 { busy.stats.p99_ms / idle.stats.p99_ms } else { f64::INFINITY };
        checks.push(Check {
            target: format!("ValidateToken {} p99 while logins saturate ≤ 2× its idle p99", plan.primary),
            measured: format!("{:.2} ms vs {:.2} ms = {ratio:.1}×", busy.stats.p99_ms, idle.stats.p99_ms),
            pass: ratio <= 2.0,
        });
    }
    for memory in report.memory.iter().filter(|memory| memory.process != processes::ECHO) {
        for (when, idle) in
            [("after start", memory.idle_after_start_mib), ("after the load", memory.idle_after_load_mib)]
        {
            if let Some(idle) = idle {
                checks.push(Check {
                    target: format!("{}: RSS idle {when} ≤ {IDLE_RSS_MIB} MiB", memory.process),
                    measured: format!("{idle:.1} MiB"),
                    pass: idle <= IDLE_RSS_MIB,
                });
            }
        }
        if let Some(peak) = memory.peak_mib {
            checks.push(Check {
                target: format!("{}: RSS peak ≤ {PEAK_RSS_MIB} MiB", memory.process),
                measured: format!("{peak:.1} MiB"),
                pass: peak <= PEAK_RSS_MIB,
            });
        }
    }
    if let Some(soak) = &report.soak {
        checks.extend(soak.checks());
    }
    checks
}

/// `result`'s `ratio` of something is at least `minimum`.
fn at_least(result: &ScenarioResult, of_what: &str, ratio: f64, minimum: f64) -> Check {
    Check {
        target: format!("{} {}: ≥ {:.0} % {of_what}", result.scenario, result.level, minimum * 100.0),
        measured: format!("{:.0} rps = {}", result.stats.rps, percent_near(ratio, minimum)),
        pass: ratio >= minimum,
    }
}

/// `ratio` in whole percent, or to a tenth when it would round to the line `minimum` itself,
/// a miss rounded down: 59.67 % must not read as the 60 % it misses.
fn percent_near(ratio: f64, minimum: f64) -> String {
    let (percent, line) = (ratio * 100.0, minimum * 100.0);
    if percent.round() != line.round() {
        return format!("{percent:.0} %");
    }
    let shown = if ratio >= minimum { percent } else { (percent * 10.0).floor() / 10.0 };
    format!("{shown:.1} %")
}

#[cfg(test)]
mod tests {
    use super::percent_near;

    #[test]
    fn a_ratio_next_to_the_line_shows_which_side_it_is_on() {
        assert_eq!(percent_near(0.5967, 0.60), "59.6 %");
        assert_eq!(percent_near(0.6004, 0.60), "60.0 %");
        assert_eq!(percent_near(0.6449, 0.60), "64 %");
        assert_eq!(percent_near(0.41, 0.50), "41 %");
        assert_eq!(percent_near(0.3496, 0.35), "34.9 %");
        assert_eq!(percent_near(0.35, 0.35), "35.0 %");
    }
}
