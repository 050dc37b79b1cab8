//! A benchmark stopped part-way leaves nothing running: `xtask bench-run` stopped by SIGTERM
//! stops the servers it started and its PostgreSQL and says so; killed outright (SIGKILL, no
//! destructor runs) its servers and PostgreSQL still go, by the signal the kernel sends them
//! when their parent dies.
//!
//! The services under test are the debug binaries `cargo test --workspace` builds beside this
//! package's own (`--bin-dir`), and the run gets a target directory of its own
//! (`CARGO_TARGET_DIR`), so that its cluster and lock are not the workspace's.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The line the run prints once the servers are up and the scenarios' users logged in.
const SERVERS_UP: &str = "bench: log in the scenarios' users";
/// Start-up (a migrated, filled database and three servers, debug builds) takes well under this.
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// The run, then the processes it leaves, must be gone within this after the signal.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn sigterm_stops_the_servers_and_postgresql_and_writes_no_report() {
    let mut run = BenchRun::start("sigterm");
    let started = run.wait_until_servers_are_up();
    assert!(started.len() >= 4, "echo, auth, resource and PostgreSQL should run, found {started:?}");
    signal(run.child.id(), libc::SIGTERM);

    let status = run.wait(STOP_TIMEOUT).expect("the run did not stop within 30 s of SIGTERM");
    assert!(!status.success(), "an interrupted run must fail, it exited with {status}");
    let stderr = run.stderr();
    assert!(stderr.contains("interrupted by a signal"), "stderr should say the run was interrupted:\n{stderr}");
    assert_all_gone(&started);
    assert!(!run.dir.join("devkit/bench/pgdata/postmaster.pid").exists(), "PostgreSQL left its pid file");
    assert!(!run.out.exists(), "an interrupted run wrote {}", run.out.display());
}

#[test]
fn sigkill_still_takes_the_servers_and_postgresql_down() {
    let mut run = BenchRun::start("sigkill");
    let started = run.wait_until_servers_are_up();
    signal(run.child.id(), libc::SIGKILL);

    let status = run.wait(STOP_TIMEOUT).expect("SIGKILL did not end the run");
    assert!(!status.success());
    // The run's own pid is reaped by `wait`; its children were re-parented and get their signal.
    let children: BTreeSet<u32> = started.into_iter().filter(|&pid| pid != run.child.id()).collect();
    assert_all_gone(&children);
}

/// One `xtask bench-run` in a target directory of its own.
struct BenchRun {
    child: Child,
    dir: PathBuf,
    out: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl BenchRun {
    fn start(name: &str) -> Self {
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
        let mut child = Command::new(&xtask)
            .args(["bench-run", "--quick", "--only", "ValidateToken", "--duration", "60s", "--metrics", "false"])
            .arg("--bin-dir")
            .arg(&bin_dir)
            .arg("--out")
            .arg(&out)
            .env("CARGO_TARGET_DIR", &dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start xtask bench-run");
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

    /// Waits for [`SERVERS_UP`]; returns the run's process and all its descendants then.
    fn wait_until_servers_are_up(&mut self) -> BTreeSet<u32> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(SERVERS_UP) => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no {SERVERS_UP:?} line; stdout:\n{}\nstderr:\n{}", seen.join("\n"), self.stderr());
                }
            }
        }
        let mut tree = descendants(self.child.id());
        tree.insert(self.child.id());
        tree
    }

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

/// Every process below `root`, from the parent ids in `/proc`.
fn descendants(root: u32) -> BTreeSet<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, parent_and_state(pid)?.0)))
        .collect();
    let mut found = BTreeSet::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, _) in parents.iter().filter(|(_, ppid)| *ppid == parent) {
            if found.insert(pid) {
                frontier.push(pid);
            }
        }
    }
    found
}

/// Parent id and state letter of a process, if it exists.
fn parent_and_state(pid: u32) -> Option<(u32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    Some((fields.next()?.parse().ok()?, state))
}

/// Waits until none of `pids` runs (a zombie has ended: it only awaits its parent's `wait`).
fn assert_all_gone(pids: &BTreeSet<u32>) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    loop {
        let running: Vec<String> = pids
            .iter()
            .filter(|&&pid| parent_and_state(pid).is_some_and(|(_, state)| state != 'Z'))
            .map(|&pid| format!("{pid} ({})", command_line(pid)))
            .collect();
        if running.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running 30 s after the run ended: {running:?}");
        thread::sleep(Duration::from_millis(100));
    }
}

fn command_line(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " ").trim().to_owned())
        .unwrap_or_default()
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) takes plain integers; an error is reported through its return value.
    #[expect(unsafe_code, reason = "std can send SIGKILL but not SIGTERM")]
    let sent = unsafe { libc::kill(pid, signal) };
    assert_eq!(sent, 0, "kill({pid}, {signal}) failed: {}", std::io::Error::last_os_error());
}
