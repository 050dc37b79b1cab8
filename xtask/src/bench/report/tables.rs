//! The report as the tables a run prints at its end.

use std::fmt::Write as _;

use super::{CPU_COLUMNS, Report, Round, names, processes};

/// CPUs the rest of the machine may keep busy before a scenario counts as disturbed.
const DISTURBED_CORES: f64 = 0.25;

impl Report {
    /// The tables printed at the end of a run.
    pub fn tables(&self) -> String {
        let mut out = String::new();
        for (index, round) in self.rounds.iter().enumerate() {
            if self.rounds.len() > 1 {
                let _ = writeln!(out, "\n=== Round {} of {}", index + 1, self.rounds.len());
            }
            self.write_scenarios(round, &mut out);
            Self::write_errors(round, &mut out);
            Self::write_cpu(round, &mut out);
            self.write_baselines(round, &mut out);
        }
        self.write_memory(&mut out);
        if let Some(soak) = &self.soak {
            out.push_str(&soak.table());
        }
        self.write_targets(&mut out);
        out
    }

    fn write_scenarios(&self, round: &Round, out: &mut String) {
        let _ = writeln!(
            out,
            "\nScenarios (rps = successful calls per second; latencies in ms; {} CPUs shared by client and servers)",
            self.machine.cpus
        );
        let _ = writeln!(
            out,
            "{:<34} {:>7} {:>9} {:>7} {:>7} {:>7} {:>7} {:>6} {:>8} {:>7} {:>6}  vs own ceiling",
            "scenario", "level", "rps", "p50", "p99", "max", "errors", "×echo", "p99/echo", "bound", "×bound"
        );
        for result in &round.scenarios {
            let stats = &result.stats;
            let (echo_rps, echo_p99) = match result.vs_echo {
                Some(ratio) => (format!("{:.2}", ratio.rps), format!("{:.1}", ratio.p99)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let ceiling = result.vs_baseline.as_ref().map_or_else(String::new, |ceiling| {
                format!("{:.0} % of {} ({})", ceiling.ratio * 100.0, ceiling.baseline, thousands(ceiling.rate))
            });
            let (bound, of_bound) = match &result.bound {
                Some(bound) => (thousands(bound.rps), format!("{:.2}", bound.fraction)),
                None => ("-".to_owned(), "-".to_owned()),
            };
            let _ = writeln!(
                out,
                "{:<34} {:>7} {:>9} {:>7.2} {:>7.2} {:>7.1} {:>7} {:>6} {:>8} {:>7} {:>6}  {}",
                result.scenario,
                result.level.to_string(),
                thousands(stats.rps),
                stats.p50_ms,
                stats.p99_ms,
                stats.max_ms,
                stats.error_count(),
                echo_rps,
                echo_p99,
                bound,
                of_bound,
                ceiling
            );
        }
        // Set only when the page echo runs (see `Bench::wants_page_echo`).
        if let Some(page) = &self.page_echo {
            let _ = writeln!(
                out,
                "{}: the echo server answering ListResources with user {}'s first page ({} resources, {} bytes) \
                 from memory; ListResources' bound uses it",
                names::PAGE_ECHO,
                page.user_id,
                page.resources,
                thousands(page.bytes as f64)
            );
        }
    }

    fn write_errors(round: &Round, out: &mut String) {
        for result in round.scenarios.iter().filter(|result| !result.stats.errors.is_empty()) {
            let codes: Vec<String> =
                result.stats.errors.iter().map(|(code, count)| format!("{count} {code}")).collect();
            let _ = writeln!(out, "  errors of {} {}: {}", result.scenario, result.level, codes.join(", "));
        }
    }

    fn write_cpu(round: &Round, out: &mut String) {
        let columns = CPU_COLUMNS;
        let _ = writeln!(
            out,
            "\nCPU in the measured window (cores busy; 'others' = the rest of the machine, disturbing the run)\n\
             and peak RSS of the services during the scenario (MiB)"
        );
        let _ = write!(out, "{:<34} {:>7}", "scenario", "level");
        for column in columns {
            let _ = write!(out, " {:>9}", short(column));
        }
        let _ = writeln!(out, " {:>7} {:>9} {:>9}", "others", "auth MiB", "res. MiB");
        for result in &round.scenarios {
            let usage_of = |label: &str| result.processes.iter().find(|usage| usage.process == label);
            let _ = write!(out, "{:<34} {:>7}", result.scenario, result.level.to_string());
            for column in columns {
                let used = result.cores_of(column);
                let _ = write!(out, " {:>9}", used.map_or_else(|| "-".to_owned(), |used| format!("{used:.2}")));
            }
            let others = result.others_cores();
            let peak = |label: &str| {
                usage_of(label)
                    .and_then(|usage| usage.peak_rss_mib)
                    .map_or_else(|| "-".to_owned(), |peak| format!("{peak:.1}"))
            };
            let _ = writeln!(
                out,
                " {:>7} {:>9} {:>9}",
                others.map_or_else(|| "-".to_owned(), |others| format!("{others:.2}")),
                peak(processes::AUTH),
                peak(processes::RESOURCE)
            );
        }
        let disturbed: Vec<String> = round
            .scenarios
            .iter()
            .filter_map(|result| {
                let others = result.others_cores().filter(|others| *others >= DISTURBED_CORES)?;
                Some(format!("{} {} ({others:.2})", result.scenario, result.level))
            })
            .collect();
        if !disturbed.is_empty() {
            let _ = writeln!(
                out,
                "  disturbed: the rest of the machine kept {DISTURBED_CORES} of a CPU or more busy during {}; \
                 ratios to or from these figures say more about the machine than about the code",
                disturbed.join(", ")
            );
        }
    }

    fn write_baselines(&self, round: &Round, out: &mut String) {
        let _ = writeln!(out, "\nCeilings");
        for pgbench in &round.pgbench {
            let _ = writeln!(
                out,
                "  pgbench {:<40} {:>9} tps  {:>6.2} ms mean  {} clients, prepared{}  (postgres {:.2} cores){}",
                pgbench.statement,
                thousands(pgbench.tps),
                pgbench.latency_ms,
                pgbench.clients,
                if pgbench.planned_once { ", planned once" } else { "" },
                pgbench.postgres_cpu_seconds / self.measure_seconds.max(1.0).floor(),
                if pgbench.failed > 0 { format!("  {} failed", pgbench.failed) } else { String::new() }
            );
        }
        if let Some(argon2) = &round.argon2 {
            let _ = writeln!(
                out,
                "  argon2id verify ({}) on {} threads: {:.1} /s, {:.1} ms each",
                argon2.params, argon2.threads, argon2.per_second, argon2.mean_ms
            );
        }
    }

    fn write_memory(&self, out: &mut String) {
        let _ = writeln!(out, "\nMemory (RSS, MiB)");
        let _ = writeln!(out, "  {:<32} {:>11} {:>11} {:>8}", "process", "idle start", "idle after", "peak");
        let show = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |value| format!("{value:.1}"));
        for memory in &self.memory {
            let _ = writeln!(
                out,
                "  {:<32} {:>11} {:>11} {:>8}",
                memory.process,
                show(memory.idle_after_start_mib),
                show(memory.idle_after_load_mib),
                show(memory.peak_mib)
            );
        }
    }

    fn write_targets(&self, out: &mut String) {
        let _ = writeln!(out, "\nTargets");
        for check in &self.targets {
            let verdict = if check.pass { "pass" } else { "MISS" };
            let rounds = if check.rounds.is_empty() {
                String::new()
            } else {
                format!("  (median of rounds {})", check.rounds.join(", "))
            };
            let _ = writeln!(out, "  {verdict:<4}  {:<66} {}{rounds}", check.target, check.measured);
        }
        let missed = self.targets.iter().filter(|check| !check.pass).count();
        let _ = writeln!(out, "  {} of {} targets met", self.targets.len() - missed, self.targets.len());
    }
}

/// A process's column header.
fn short(label: &str) -> &str {
    match label {
        processes::AUTH => "auth",
        processes::RESOURCE => "resource",
        processes::POSTGRES => "postgres",
        processes::LOAD => "load gen",
        other => other,
    }
}

/// `12345.6` → `12,346`.
pub fn thousands(value: f64) -> String {
    let rounded = value.round();
    if !rounded.is_finite() || rounded.abs() >= 1e15 {
        return format!("{value:.0}");
    }
    let digits = format!("{:.0}", rounded.abs());
    let mut grouped = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if rounded < 0.0 { format!("-{grouped}") } else { grouped }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::proc_stats::{MACHINE, ProcessUsage};
    use crate::bench::report::ScenarioResult;

    #[test]
    fn a_scenario_the_rest_of_the_machine_disturbed_is_named_under_the_cpu_table() {
        let usage = |process: &str, cpu_seconds: f64| ProcessUsage {
            process: process.to_owned(),
            cpu_seconds,
            rss_mib: None,
            peak_rss_mib: None,
        };
        let mut round = Round::default();
        for (name, machine) in [(names::ECHO, 1.9), (names::LIST, 2.0)] {
            let mut result = ScenarioResult::for_test(name, 1_000.0);
            result.processes = vec![usage(processes::ECHO, 1.0), usage(processes::LOAD, 0.8), usage(MACHINE, machine)];
            round.scenarios.push(result);
        }
        let others: Vec<Option<f64>> = round.scenarios.iter().map(ScenarioResult::others_cores).collect();
        assert!(
            matches!(others[..], [Some(quiet), Some(busy)] if (quiet - 0.1).abs() < 1e-9 && (busy - 0.2).abs() < 1e-9)
        );
        let mut out = String::new();
        Report::write_cpu(&round, &mut out);
        assert!(!out.contains("disturbed"), "0.2 of a CPU is not a disturbance:\n{out}");

        round.scenarios[1].processes[2].cpu_seconds = 2.5;
        let mut out = String::new();
        Report::write_cpu(&round, &mut out);
        assert!(out.contains("disturbed: "), "{out}");
        assert!(out.contains("ListResources 4×64 (0.70)"), "{out}");
        assert!(!out.contains("echo (bare tonic) 4×64 ("), "only the disturbed one is named:\n{out}");
    }

    #[test]
    fn thousands_are_grouped_by_three() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(12_345.6), "12,346");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }
}
