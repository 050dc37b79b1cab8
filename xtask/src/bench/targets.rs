//! The targets of issue 6, each a ratio between two figures of the same run. With several
//! rounds (`--rounds`), a ratio target is judged on its median round.

use serde::Serialize;

use super::pgbench::Statement;
use super::plan::Plan;
use super::report::{Report, Round, ScenarioResult, names, processes};

/// Most RSS of an idle service, MiB.
const IDLE_RSS_MIB: f64 = 25.0;
/// Most RSS of a service under load, MiB.
const PEAK_RSS_MIB: f64 = 100.0;

/// One target and how the run did.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The target, in words.
    pub target: String,
    /// What was measured, in words (in the median round, when there were several).
    pub measured: String,
    /// Whether it was met.
    pub pass: bool,
    /// With several rounds, each round's figure in the order run; the verdict is the median's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<String>,
    /// The figure alone, as `rounds` lists it.
    #[serde(skip)]
    figure: String,
    /// How far the figure is on the passing side of the line (negative: missed), to rank rounds.
    #[serde(skip)]
    margin: f64,
}

impl Check {
    /// A target judged once for the whole run (memory, the soak).
    pub fn once(target: String, measured: String, pass: bool) -> Self {
        Self { target, measured, pass, rounds: Vec::new(), figure: String::new(), margin: 0.0 }
    }

    /// A ratio target of one round: `figure` is the ratio as shown, `margin` its distance from
    /// the line, positive on the passing side.
    fn ratio(target: String, measured: String, figure: String, margin: f64) -> Self {
        Self { target, measured, pass: margin >= 0.0, rounds: Vec::new(), figure, margin }
    }
}

/// Judges every target the run has figures for.
pub fn evaluate(report: &Report, plan: &Plan) -> Vec<Check> {
    let per_round: Vec<Vec<Check>> = report.rounds.iter().map(|round| ratio_checks(round, plan)).collect();
    let mut checks = median_of_rounds(per_round);
    for memory in report.memory.iter().filter(|memory| memory.process != processes::ECHO) {
        for (when, idle) in
            [("after start", memory.idle_after_start_mib), ("after the load", memory.idle_after_load_mib)]
        {
            if let Some(idle) = idle {
                checks.push(Check::once(
                    format!("{}: RSS idle {when} ≤ {IDLE_RSS_MIB} MiB", memory.process),
                    format!("{idle:.1} MiB"),
                    idle <= IDLE_RSS_MIB,
                ));
            }
        }
        if let Some(peak) = memory.peak_mib {
            checks.push(Check::once(
                format!("{}: RSS peak ≤ {PEAK_RSS_MIB} MiB", memory.process),
                format!("{peak:.1} MiB"),
                peak <= PEAK_RSS_MIB,
            ));
        }
    }
    if let Some(soak) = &report.soak {
        checks.extend(soak.checks());
    }
    checks
}

/// Each target of the first round, judged on its median round: the rounds ranked by margin,
/// the middle one, or the worse of the two middle ones when their number is even. With an odd
/// number of rounds a target is thus met when most rounds meet it; one disturbed round can
/// neither make nor break it.
fn median_of_rounds(per_round: Vec<Vec<Check>>) -> Vec<Check> {
    if per_round.len() <= 1 {
        return per_round.into_iter().next().unwrap_or_default();
    }
    per_round[0]
        .iter()
        .map(|check| {
            let mut rounds: Vec<&Check> = per_round
                .iter()
                .filter_map(|checks| checks.iter().find(|other| other.target == check.target))
                .collect();
            let figures = rounds.iter().map(|round| round.figure.clone()).collect();
            rounds.sort_by(|a, b| a.margin.total_cmp(&b.margin));
            Check { rounds: figures, ..rounds[(rounds.len() - 1) / 2].clone() }
        })
        .collect()
}

/// The targets judged by ratios within one round.
fn ratio_checks(round: &Round, plan: &Plan) -> Vec<Check> {
    let mut checks = Vec::new();
    for result in round.scenarios.iter().filter(|result| result.scenario == names::VALIDATE) {
        if let Some(ratio) = result.vs_echo {
            checks.push(at_least(result, "of echo's rps", ratio.rps, 0.50, ""));
            checks.push(at_most(
                format!("{} {}: p99 ≤ 3× echo's", result.scenario, result.level),
                &format!("{:.2} ms = ", result.stats.p99_ms),
                ratio.p99,
                3.0,
                " echo's",
            ));
        }
    }
    for (scenario, minimum) in [(names::GET_CACHED, 0.35), (names::GET_UNCACHED, 0.20)] {
        for result in round.scenarios.iter().filter(|result| result.scenario == scenario) {
            if let Some(ratio) = result.vs_echo {
                checks.push(at_least(result, "of echo's rps", ratio.rps, minimum, ""));
            }
        }
    }
    for (scenario, statement) in
        [(names::LIST, Statement::NewestLiveOfOwner), (names::CREATE, Statement::InsertReturning)]
    {
        let result = round.find(scenario, plan.primary);
        if let Some((result, ceiling)) = result.and_then(|result| Some((result, result.vs_baseline.as_ref()?))) {
            let what = format!("of pgbench {}", statement.name());
            checks.push(at_least(result, &what, ceiling.ratio, 0.60, &format!(" of {:.0} tps", ceiling.rate)));
        }
    }
    if let Some((result, ceiling)) =
        round.find(names::LOGIN, plan.login).and_then(|result| Some((result, result.vs_baseline.as_ref()?)))
    {
        let of_rate = format!(" of {:.1}/s", ceiling.rate);
        checks.push(at_least(result, "of the raw argon2id verify rate", ceiling.ratio, 0.90, &of_rate));
    }
    if let (Some(idle), Some(busy)) =
        (round.find(names::VALIDATE, plan.primary), round.find(names::VALIDATE_UNDER_LOGINS, plan.primary))
    {
        let ratio = if idle.stats.p99_ms > 0.0 { busy.stats.p99_ms / idle.stats.p99_ms } else { f64::INFINITY };
        checks.push(at_most(
            format!("ValidateToken {} p99 while logins saturate ≤ 2× its idle p99", plan.primary),
            &format!("{:.2} ms vs {:.2} ms = ", busy.stats.p99_ms, idle.stats.p99_ms),
            ratio,
            2.0,
            "",
        ));
    }
    checks
}

/// `ratio` (a multiple of something) is at most `maximum`; `measured` leads up to the multiple
/// and `after` follows it.
fn at_most(target: String, measured: &str, ratio: f64, maximum: f64, after: &str) -> Check {
    let figure = format!("{ratio:.1}×");
    Check::ratio(target, format!("{measured}{figure}{after}"), figure, maximum - ratio)
}

/// `result`'s `ratio` of something is at least `minimum`; `of_rate` follows the percentage in
/// the measured text (the rate it is a share of, which varies from round to round).
fn at_least(result: &ScenarioResult, of_what: &str, ratio: f64, minimum: f64, of_rate: &str) -> Check {
    let figure = percent_near(ratio, minimum);
    Check::ratio(
        format!("{} {}: ≥ {:.0} % {of_what}", result.scenario, result.level, minimum * 100.0),
        format!("{:.0} rps = {figure}{of_rate}", result.stats.rps),
        figure,
        ratio - minimum,
    )
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
    use std::time::Duration;

    use super::*;
    use crate::bench::pgbench::PgbenchResult;
    use crate::bench::plan::Level;
    use crate::bench::report::Machine;

    fn plan(rounds: u32) -> Plan {
        Plan {
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(3),
            levels: vec![Level::new(4, 64)],
            primary: Level::new(4, 64),
            login: Level::new(1, 16),
            rounds,
            only: Vec::new(),
            soak: None,
            quick: true,
        }
    }

    /// A report whose rounds made ListResources at these shares of pgbench's page, against a
    /// pgbench rate that differs from round to round.
    fn list_rounds(shares: &[f64]) -> Vec<Check> {
        let machine = Machine { cpus: 2, cpu_model: String::new(), kernel: String::new(), commit: String::new() };
        let mut report = Report::new(machine, true, 1.0, 3.0);
        for (index, share) in shares.iter().enumerate() {
            let tps = 20_000.0 + 1_000.0 * index as f64;
            report.start_round();
            let round = report.current_round();
            round.scenarios.push(ScenarioResult::for_test(names::LIST, share * tps));
            round.pgbench.push(PgbenchResult::for_test(Statement::NewestLiveOfOwner, tps));
        }
        report.link_baselines();
        evaluate(&report, &plan(u32::try_from(shares.len()).unwrap_or(1)))
    }

    #[test]
    fn a_target_of_several_rounds_is_judged_on_its_median_round() {
        let checks = list_rounds(&[0.40, 0.65, 0.62]);
        assert_eq!(checks.len(), 1, "one target for all rounds: {checks:#?}");
        let check = &checks[0];
        assert!(check.pass, "two rounds of three met it: {check:#?}");
        assert_eq!(check.rounds, ["40 %", "65 %", "62 %"], "each round's figure, in the order run");
        assert!(check.measured.contains("= 62 % of 22000 tps"), "the median round's figures: {}", check.measured);

        let checks = list_rounds(&[0.65, 0.40, 0.55]);
        assert!(!checks[0].pass, "two rounds of three missed it: {:#?}", checks[0]);
        assert!(checks[0].measured.contains("55 %"), "{}", checks[0].measured);
    }

    #[test]
    fn of_two_rounds_the_worse_decides_and_one_round_lists_none() {
        let checks = list_rounds(&[0.65, 0.55]);
        assert!(!checks[0].pass, "{:#?}", checks[0]);
        assert_eq!(checks[0].rounds, ["65 %", "55 %"]);

        let checks = list_rounds(&[0.61]);
        assert!(checks[0].pass);
        assert!(checks[0].rounds.is_empty(), "a single round needs no list: {:#?}", checks[0]);
    }

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
