//! A benchmark stopped part-way leaves nothing running:
//!
//! - SIGTERM to `xtask bench-run`, or Ctrl-C in a terminal (SIGINT to its whole process group,
//!   PostgreSQL and the servers included): the run stops the servers it started and its
//!   PostgreSQL, writes no report and says it was interrupted;
//! - SIGKILL (no destructor runs): the servers and PostgreSQL still go, by the signal the kernel
//!   sends them when their parent dies.
//!
//! The services under test are the debug binaries that `cargo test --workspace` builds beside
//! this package's own (`--bin-dir`); under `cargo test -p xtask` alone they may be missing (the
//! test says so) or stale (harmless here: only their start and stop matter). Each run gets a
//! target directory of its own (`CARGO_TARGET_DIR`), so its cluster and lock are not the
//! workspace's. The runs take turns: two full set-ups at once on two cores would only slow both.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

/// The line the run prints once the servers are up and the scenarios' users logged in.
const SERVERS_UP: &str = "bench: log in the scenarios' users";
/// Start-up (a migrated, filled database and three servers, debug builds) takes well under this.
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// The run, then the processes it leaves, must be gone within this after the signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// One run at a time (see the module comment).
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn sigterm_stops_the_servers_and_postgresql_and_writes_no_report() {
    let _turn = take_turn();
    let mut run = BenchRun::start("sigterm", false);
    let started = run.wait_until_servers_are_up();
    send_signal(run.pid(), libc::SIGTERM);
    run.assert_interrupted(&started);
}

#[test]
fn ctrl_c_in_a_terminal_stops_everything_and_says_so() {
    let _turn = take_turn();
    let mut run = BenchRun::start("sigint", true);
    let started = run.wait_until_servers_are_up();
    // A terminal sends SIGINT to the whole foreground process group.
    send_signal_to_group(run.pid(), libc::SIGINT);
    run.assert_interrupted(&started);
}

#[test]
fn sigkill_still_takes_the_servers_and_postgresql_down() {
    let _turn = take_turn();
    let mut run = BenchRun::start("sigkill", false);
    let mut started = run.wait_until_servers_are_up();
    send_signal(run.pid(), libc::SIGKILL);

    let status = run.wait(STOP_TIMEOUT).expect("SIGKILL did not end the run");
    assert!(!status.success());
    // The run itself is reaped by `wait`; its children were re-parented and get their signal.
    started.remove(&run.pid());
    assert_all_gone(&started);
}

/// Waits for the other runs of this file to finish (a failed one does not block the rest).
fn take_turn() -> MutexGuard<'static, ()> {
    ONE_RUN_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A process seen under the run: its start time (so that a reused pid is not taken for it) and
/// its command line.
#[derive(Debug, Clone)]
struct Seen {
    start: u64,
    command: String,
}

/// One `xtask bench-run` in a target directory of its own.
struct BenchRun {
    child: Child,
    dir: PathBuf,
    out: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl BenchRun {
    /// Starts the run, in a process group of its own when `own_group` (as a shell's job is).
    fn start(name: &str, own_group: bool) -> Self {
        let xtask = PathBuf::from(env!("CARGO_BIN_EXE_xtask"));
        let bin_dir = xtask.parent().expect("the test binary's directory").to_owned();
        for service in ["auth-service", "resource-service"] {
            assert!(
                bin_dir.join(service).is_file(),
                "{} is missing: run `cargo test --workspace`, or `cargo build -p auth-service -p resource-service` first",
                bin_dir.join(service).display()
            );
        }
        let dir = std::env::temp_dir().join(format!("xtask-interrupt-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create the run's target directory");
        let out = dir.join("results.json");
        let mut command = Command::new(&xtask);
        command
            .args(["bench-run", "--quick", "--only", "ValidateToken", "--duration", "60s", "--metrics", "false"])
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--out")
            .arg(&out)
            .env("CARGO_TARGET_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if own_group {
            command.process_group(0);
        }
        let mut child = command.spawn().expect("start xtask bench-run");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, dir, out, lines }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for [`SERVERS_UP`]; returns the run and every process under it, seen then and
    /// again a moment later (the run starts and stops servers between scenarios), after
    /// checking that the echo server, both services and PostgreSQL are among them.
    fn wait_until_servers_are_up(&mut self) -> BTreeMap<u32, Seen> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut printed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(SERVERS_UP) => break,
                Ok(line) => printed.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {SERVERS_UP:?} line; stdout:\n{}\nstderr:\n{}", printed.join("\n"), self.stderr());
                }
            }
        }
        let mut seen = process_tree(self.pid());
        thread::sleep(Duration::from_millis(500));
        seen.extend(process_tree(self.pid()));
        for part in ["bench-echo", "auth-service", "resource-service", "postgres"] {
            assert!(
                seen.values().any(|process| process.command.contains(part)),
                "no {part} process under the run: {seen:?}"
            );
        }
        seen
    }

    /// After SIGTERM or SIGINT: the run failed saying it was interrupted, left no process and
    /// no PostgreSQL pid file behind, and wrote no report.
    fn assert_interrupted(&mut self, started: &BTreeMap<u32, Seen>) {
        let status = self.wait(STOP_TIMEOUT).expect("the run did not stop within 30 s of the signal");
        assert!(!status.success(), "an interrupted run must fail, it exited with {status}");
        let stderr = self.stderr();
        assert!(stderr.contains("interrupted by a signal"), "stderr should say the run was interrupted:\n{stderr}");
        assert_all_gone(started);
        assert!(!self.dir.join("devkit/bench/pgdata/postmaster.pid").exists(), "PostgreSQL left its pid file");
        assert!(!self.out.exists(), "an interrupted run wrote {}", self.out.display());
    }

    /// Its exit status, or `None` (and SIGKILL) if it runs on past `timeout`.
    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for xtask") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }

    /// Everything it wrote to stderr (read once it has exited, or after a kill).
    fn stderr(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    }
}

impl Drop for BenchRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `root` and every process below it, from the parent ids in `/proc`.
fn process_tree(root: u32) -> BTreeMap<u32, Seen> {
    let stats: Vec<(u32, Stat)> = fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, stat(pid)?)))
        .collect();
    let mut tree = BTreeMap::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        let stat = stats.iter().find(|(pid, _)| *pid == parent).map(|(_, stat)| stat);
        if let Some(stat) = stat {
            tree.insert(parent, Seen { start: stat.start, command: command_line(parent) });
        }
        frontier.extend(
            stats.iter().filter(|(pid, stat)| stat.parent == parent && !tree.contains_key(pid)).map(|(pid, _)| *pid),
        );
    }
    tree
}

/// The fields of `/proc/<pid>/stat` the test reads.
struct Stat {
    state: char,
    parent: u32,
    /// Clock ticks after boot at which the process started.
    start: u64,
}

/// A process's state, parent and start time, if it exists.
fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    // After it: state (field 3 of proc(5)), ppid (4), …, starttime (22).
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        parent: fields.get(1)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

/// Waits until none of `processes` runs. A zombie has ended (it only awaits its parent's
/// `wait`), and a pid with another start time belongs to a newer process.
fn assert_all_gone(processes: &BTreeMap<u32, Seen>) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let running: Vec<String> = processes
            .iter()
            .filter(|&(&pid, seen)| stat(pid).is_some_and(|now| now.state != 'Z' && now.start == seen.start))
            .map(|(pid, seen)| format!("{pid} ({})", seen.command))
            .collect();
        if running.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running 30 s after the run ended: {running:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// A process's command line, arguments separated by spaces.
fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " ").trim().to_owned())
        .unwrap_or_default()
}

/// kill(2) to one process.
fn send_signal(pid: u32, signal: libc::c_int) {
    kill(libc::pid_t::try_from(pid).expect("pid fits pid_t"), signal);
}

/// kill(2) to every process of the group `leader` leads.
fn send_signal_to_group(leader: u32, signal: libc::c_int) {
    kill(-libc::pid_t::try_from(leader).expect("pid fits pid_t"), signal);
}

/// kill(2), failing the test when it fails.
fn kill(target: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill(2) takes plain integers; an error is reported through its return value.
    #[expect(unsafe_code, reason = "std can send SIGKILL but not SIGTERM or SIGINT")]
    let sent = unsafe { libc::kill(target, signal) };
    assert_eq!(sent, 0, "kill({target}, {signal}) failed: {}", std::io::Error::last_os_error());
}
