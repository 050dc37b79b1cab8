//! The database ceiling: pgbench (prepared statements, 16 clients) running the statements the
//! services run, on the same data and the same server, in the same run.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde::Serialize;
use shared::planning::Planning;

use super::fill::{RESOURCES, USERS};
use super::plan::PGBENCH_CLIENTS;

/// The columns of `users` the services select (shared's `User`).
const USER_COLUMNS: &str = "users.id, users.email, users.hashed_password, users.name, users.role, users.is_active, users.is_verified, \
     users.created_at, users.updated_at";
/// The columns of `sessions` (shared's `Session`).
const SESSION_COLUMNS: &str = "sessions.id, sessions.user_id, sessions.user_agent, sessions.ip_address, \
     sessions.created_at, sessions.updated_at, sessions.last_used_at, sessions.expires_at, sessions.revoked_at";
/// The columns of `resources` (shared's `Resource`).
const RESOURCE_COLUMNS: &str = "resources.id, resources.user_id, resources.title, resources.content, \
     resources.created_at, resources.updated_at, resources.deleted_at, resources.version";

/// Content of the resources pgbench and CreateResource insert (the same bytes on both sides).
pub const NEW_CONTENT: &str = "lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor \
     incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation.";

/// One statement the services run, as a pgbench script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statement {
    /// `users` by primary key (what the baselines call "user by id").
    UserById,
    /// ValidateToken's one query: the session and its user, by session id and owner.
    SessionWithUser,
    /// GetResource: one resource by id and owner.
    ResourceByIdAndOwner,
    /// ListResources: the 20 newest live rows of one owner (21 fetched, to learn if more follow),
    /// in the shape `store::list` gives it.
    NewestLiveOfOwner,
    /// CreateResource: INSERT … RETURNING.
    InsertReturning,
}

impl Statement {
    /// Every statement, in report order.
    pub const ALL: [Statement; 5] = [
        Statement::UserById,
        Statement::SessionWithUser,
        Statement::ResourceByIdAndOwner,
        Statement::NewestLiveOfOwner,
        Statement::InsertReturning,
    ];

    /// Name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Statement::UserById => "user by id",
            Statement::SessionWithUser => "session + user by id (ValidateToken)",
            Statement::ResourceByIdAndOwner => "resource by id and owner",
            Statement::NewestLiveOfOwner => "20 newest live rows of one owner",
            Statement::InsertReturning => "insert … RETURNING",
        }
    }

    /// How the service plans this statement: pgbench's clients plan it alike. The resource
    /// service's shared connections plan each statement once; the auth service keeps the
    /// server's default.
    pub fn planning(self) -> Planning {
        match self {
            Statement::UserById | Statement::SessionWithUser => Planning::ServerDefault,
            Statement::ResourceByIdAndOwner | Statement::NewestLiveOfOwner | Statement::InsertReturning => {
                Planning::OncePerConnection
            }
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Statement::UserById => "user_by_id.sql",
            Statement::SessionWithUser => "session_with_user.sql",
            Statement::ResourceByIdAndOwner => "resource_by_id_and_owner.sql",
            Statement::NewestLiveOfOwner => "newest_live_of_owner.sql",
            Statement::InsertReturning => "insert_returning.sql",
        }
    }

    /// The pgbench script. Ids follow the fill: session n and resource n belong to user
    /// n and 1 + (n - 1) % 1000.
    fn script(self) -> String {
        match self {
            Statement::UserById => format!(
                "\\set uid random(1, {USERS})\n\
                 SELECT {USER_COLUMNS} FROM users WHERE users.id = :uid LIMIT 1;\n"
            ),
            Statement::SessionWithUser => format!(
                "\\set sid random(1, {USERS})\n\
                 SELECT {SESSION_COLUMNS}, {USER_COLUMNS} FROM sessions INNER JOIN users ON users.id = sessions.user_id \
                 WHERE sessions.id = :sid AND sessions.user_id = :sid LIMIT 1;\n"
            ),
            Statement::ResourceByIdAndOwner => format!(
                "\\set id random(1, {RESOURCES})\n\
                 \\set owner 1 + (:id - 1) % {USERS}\n\
                 SELECT {RESOURCE_COLUMNS} FROM resources WHERE resources.id = :id AND resources.user_id = :owner LIMIT 1;\n"
            ),
            Statement::NewestLiveOfOwner => format!(
                "\\set owner random(1, {USERS})\n\
                 SELECT {RESOURCE_COLUMNS} FROM resources WHERE resources.user_id BETWEEN :owner AND :owner \
                 AND resources.deleted_at IS NULL ORDER BY resources.user_id, resources.id DESC LIMIT 21;\n"
            ),
            Statement::InsertReturning => format!(
                "\\set owner random(1, {USERS})\n\
                 INSERT INTO resources (user_id, title, content) VALUES (:owner, 'Created by pgbench', '{NEW_CONTENT}') \
                 RETURNING {RESOURCE_COLUMNS};\n"
            ),
        }
    }
}

/// What pgbench reported for one statement.
#[derive(Debug, Clone, Serialize)]
pub struct PgbenchResult {
    /// The statement's name.
    pub statement: String,
    /// Clients (connections).
    pub clients: usize,
    /// Whether its clients planned the statement once (as the service's connections do).
    pub planned_once: bool,
    /// Transactions (one statement each) per second, without connection time.
    pub tps: f64,
    /// Mean latency, ms.
    pub latency_ms: f64,
    /// Failed transactions.
    pub failed: u64,
    /// CPU seconds the PostgreSQL server used meanwhile.
    pub postgres_cpu_seconds: f64,
}

/// The pgbench program: next to the server programs devkit uses (`$PG_BIN_DIR`, a `PATH`
/// directory holding `initdb` and `postgres`, or the newest `/usr/lib/postgresql/*/bin`).
pub fn find_pgbench() -> anyhow::Result<PathBuf> {
    let usable = |dir: &Path| dir.join("pgbench").is_file().then(|| dir.join("pgbench"));
    if let Some(dir) = env::var_os("PG_BIN_DIR").filter(|dir| !dir.is_empty()) {
        return usable(Path::new(&dir)).ok_or_else(|| anyhow!("PG_BIN_DIR has no pgbench"));
    }
    let path_dirs: Vec<PathBuf> = env::var_os("PATH").map(|path| env::split_paths(&path).collect()).unwrap_or_default();
    let server_dir = path_dirs.iter().find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file());
    if let Some(found) = server_dir.and_then(|dir| usable(dir)) {
        return Ok(found);
    }
    if let Some(found) = newest_debian_bin_dir().and_then(|dir| usable(&dir)) {
        return Ok(found);
    }
    path_dirs.iter().find_map(|dir| usable(dir)).ok_or_else(|| {
        anyhow!("pgbench not found next to PostgreSQL's server programs (install postgresql-contrib or set PG_BIN_DIR)")
    })
}

fn newest_debian_bin_dir() -> Option<PathBuf> {
    let version = |name: &str| name.split('.').map(|part| part.parse::<u32>().ok()).collect::<Option<Vec<u32>>>();
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| Some((version(entry.file_name().to_str()?)?, entry.path().join("bin"))))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, bin)| bin)
}

/// Runs `statement` for `duration` against `database` on the local server at `port`.
pub fn run(
    pgbench: &Path,
    script_dir: &Path,
    port: u16,
    database: &str,
    statement: Statement,
    duration: Duration,
) -> anyhow::Result<PgbenchResult> {
    fs::create_dir_all(script_dir)?;
    let script = script_dir.join(statement.file_name());
    fs::write(&script, statement.script())?;
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut command = Command::new(pgbench);
    if let Some(setting) = statement.planning().setting() {
        // After any options the caller gave pgbench; the last setting of a name wins.
        let given = env::var("PGOPTIONS").unwrap_or_default();
        command.env("PGOPTIONS", format!("{given} -c {setting}").trim_start());
    }
    let output = command
        .args(["-n", "-M", "prepared", "-h", "127.0.0.1", "-U", "postgres"])
        .args(["-p", &port.to_string()])
        .args(["-c", &PGBENCH_CLIENTS.to_string(), "-j", &threads.to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string()])
        .arg("-f")
        .arg(&script)
        .arg(database)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", pgbench.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench {} failed ({}):\n{text}{}",
            statement.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let find = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse::<f64>().ok())
    };
    Ok(PgbenchResult {
        statement: statement.name().to_owned(),
        clients: PGBENCH_CLIENTS,
        planned_once: statement.planning() != Planning::ServerDefault,
        tps: find("tps = ").ok_or_else(|| anyhow!("no tps in pgbench's output:\n{text}"))?,
        latency_ms: find("latency average = ").unwrap_or(0.0),
        failed: find("number of failed transactions: ").map_or(0, |failed| failed as u64),
        postgres_cpu_seconds: 0.0,
    })
}
