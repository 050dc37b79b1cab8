//! The deployment files agree with the binaries they deploy.
//!
//! The binaries' options come in-process from clap (`Cli::command()`), so a renamed or removed
//! variable, or a changed default port, fails here rather than in a cluster:
//!
//! - `docker-compose.yml`: the services are postgres / migrate / auth-service / resource-service;
//!   every variable set for a program of ours is one that program knows (or `RUST_LOG`), and the
//!   whole environment plus the command parses with the program's own clap parser; the listen
//!   addresses use the default ports, which `ports:` publishes and the health check probes;
//!   `*_FILE` variables name an attached compose secret; `depends_on` orders the start-up;
//!   each service runs the worker threads its pod in `deploy/k8s` runs (the ConfigMap's
//!   `TOKIO_WORKER_THREADS`, else the CPU limit).
//! - `deploy/k8s` (rendered by `kubectl kustomize` when kubectl is on PATH, and always by a small
//!   renderer of our own that reads the kustomization's resources and ConfigMap generators): the
//!   same for every container's environment (ConfigMap keys from `envFrom`, `env` entries and
//!   the keys they reference), plus ports, probes, Services, the secret volumes behind `*_FILE`,
//!   grace periods, security contexts, autoscalers, disruption budgets and network policies.
//! - `Dockerfile` and `.dockerignore`: the build command, the non-root runtime stage, the
//!   exposed ports, and that no path the build needs is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use clap::builder::Resettable;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde_json::{Map, Value};
use service_kit::runtime::{self, WORKER_THREADS_VAR};
use yaml_rust2::{Yaml, YamlLoader};

/// Read by the log subscriber, not by clap.
const LOG_FILTER_VARIABLE: &str = "RUST_LOG";
/// The drain the services announce, used when the binary has no SHUTDOWN_GRACE_PERIOD option.
const FALLBACK_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// resource-service's re-resolution period of AUTH_SERVICE_URL's host (client-side balancing).
const DNS_REFRESH_VARIABLE: &str = "AUTH_SERVICE_DNS_REFRESH";
/// TTL of a headless Service's records in CoreDNS (the `kubernetes` plugin's default).
const HEADLESS_DNS_TTL: Duration = Duration::from_secs(5);

// ------------------------------------------------------------------------------------------------
// The binaries, as clap describes them.

/// One of our programs, described by its clap command.
struct Binary {
    name: &'static str,
    command: clap::Command,
    /// Converts matches into the typed `Cli`, the last step `Cli::parse` takes.
    typed: fn(&ArgMatches) -> Result<(), clap::Error>,
}

impl Binary {
    fn auth() -> Self {
        Self {
            name: "auth-service",
            command: auth_service::cli::Cli::command(),
            typed: |matches| auth_service::cli::Cli::from_arg_matches(matches).map(drop),
        }
    }

    fn resource() -> Self {
        Self {
            name: "resource-service",
            command: resource_service::cli::Cli::command(),
            typed: |matches| resource_service::cli::Cli::from_arg_matches(matches).map(drop),
        }
    }

    fn for_program(program: &str) -> Self {
        match basename(program) {
            "auth-service" => Self::auth(),
            "resource-service" => Self::resource(),
            other => panic!("`{program}`: {other} is none of our binaries"),
        }
    }

    /// Every environment variable the program reads through clap, in any subcommand.
    fn variables(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        collect_variables(&self.command, &mut names);
        names
    }

    /// Whether `name` is a variable this program reads (clap's, the log filter or the runtime's
    /// worker count).
    fn knows(&self, name: &str) -> bool {
        [LOG_FILTER_VARIABLE, WORKER_THREADS_VAR].contains(&name) || self.variables().contains(name)
    }

    /// The top-level argument read from `variable`.
    fn arg_for(&self, variable: &str) -> Option<&clap::Arg> {
        find_env_arg(&self.command, variable)
    }

    /// The variable of the gRPC listen address and the port of its default.
    fn listen(&self) -> (String, u16) {
        let arg = self
            .command
            .get_arguments()
            .find(|arg| arg.get_id() == "listen_addr")
            .unwrap_or_else(|| panic!("{} has no listen_addr option", self.name));
        let variable = arg.get_env().and_then(|env| env.to_str()).expect("listen_addr has a variable").to_owned();
        let default =
            arg.get_default_values().first().and_then(|value| value.to_str()).expect("listen_addr has a default");
        let port = default.parse::<SocketAddr>().expect("the default listen address is an address").port();
        (variable, port)
    }

    /// The drain after SIGTERM: SHUTDOWN_GRACE_PERIOD as set in `env`, else its default.
    fn shutdown_grace(&self, env: &BTreeMap<String, String>) -> Duration {
        let Some(arg) = self.arg_for("SHUTDOWN_GRACE_PERIOD") else {
            return FALLBACK_SHUTDOWN_GRACE;
        };
        let value = env.get("SHUTDOWN_GRACE_PERIOD").cloned().unwrap_or_else(|| {
            let default = arg.get_default_values().first().expect("SHUTDOWN_GRACE_PERIOD has a default");
            default.to_string_lossy().into_owned()
        });
        humantime::parse_duration(&value).unwrap_or_else(|error| panic!("SHUTDOWN_GRACE_PERIOD {value:?}: {error}"))
    }

    /// Parses `argv` with `env` the way the program would: each variable becomes its flag (clap
    /// reads variables and flags through the same value parsers), the environment of this test
    /// process is ignored.
    fn parse(&self, argv: &[String], env: &BTreeMap<String, String>) -> Result<(), String> {
        // The chain of (sub)commands named by argv: flags go right after the command owning them.
        let mut chain = vec![self.command.clone()];
        let mut split = 1;
        while let Some(word) = argv.get(split) {
            let Some(sub) = chain.last().and_then(|last| last.find_subcommand(word)).cloned() else { break };
            chain.push(sub);
            split += 1;
        }
        let mut flags: Vec<Vec<String>> = vec![Vec::new(); chain.len()];
        for (name, value) in env {
            if name == LOG_FILTER_VARIABLE {
                continue;
            }
            if name == WORKER_THREADS_VAR {
                runtime::worker_threads(Some(value), 1).map_err(|error| error.to_string())?;
                continue;
            }
            let owner = chain.iter().rposition(|level| find_env_arg(level, name).is_some());
            let Some(level) = owner else {
                return Err(format!("{name} is no option of `{}`", argv.join(" ")));
            };
            let arg = find_env_arg(&chain[level], name).expect("found above");
            let long = arg.get_long().ok_or_else(|| format!("{name}: its option has no --long form"))?;
            if arg.get_action().takes_values() {
                flags[level].push(format!("--{long}={value}"));
            } else if truthy(value).ok_or_else(|| format!("{name}={value:?} is not a boolean"))? {
                flags[level].push(format!("--{long}"));
            }
        }
        let mut args = vec![self.name.to_owned()];
        args.extend(flags[0].iter().cloned());
        for (index, word) in argv.iter().enumerate().take(split).skip(1) {
            args.push(word.clone());
            args.extend(flags[index].iter().cloned());
        }
        args.extend(argv.iter().skip(split).cloned());
        let matches = without_env(self.command.clone())
            .try_get_matches_from(&args)
            .map_err(|error| format!("{args:?}: {error}"))?;
        (self.typed)(&matches).map_err(|error| format!("{args:?}: {error}"))
    }
}

fn collect_variables(command: &clap::Command, names: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(env) = arg.get_env() {
            names.insert(env.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        collect_variables(sub, names);
    }
}

fn find_env_arg<'a>(command: &'a clap::Command, variable: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|arg| arg.get_env().is_some_and(|env| env == variable))
}

/// The command without its `env = ...` bindings: the test's own environment must not leak in.
fn without_env(command: clap::Command) -> clap::Command {
    let command = command.mut_args(|arg| arg.env(Resettable::Reset));
    let names: Vec<String> = command.get_subcommands().map(|sub| sub.get_name().to_owned()).collect();
    names.iter().fold(command, |command, name| command.mut_subcommand(name, without_env))
}

/// clap's reading of a boolean variable.
fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
        "" | "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

// ------------------------------------------------------------------------------------------------
// YAML, as JSON values (merge keys resolved).

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
}

fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    let documents = YamlLoader::load_from_str(text).unwrap_or_else(|error| panic!("{origin}: {error}"));
    documents.iter().map(to_json).filter(|document| !document.is_null()).collect()
}

fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Real(text) => text.parse::<f64>().map_or_else(|_| Value::String(text.clone()), Value::from),
        Yaml::Integer(number) => Value::from(*number),
        Yaml::String(text) => Value::String(text.clone()),
        Yaml::Boolean(flag) => Value::Bool(*flag),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Hash(entries) => {
            let mut object = Map::new();
            // `<<: *anchor` / `<<: [*a, *b]`: earlier sources win, explicit keys win over all.
            for (key, value) in entries {
                if key.as_str() == Some("<<") {
                    let sources = match to_json(value) {
                        Value::Array(sources) => sources,
                        source => vec![source],
                    };
                    for source in sources {
                        for (name, item) in source.as_object().cloned().unwrap_or_default() {
                            object.entry(name).or_insert(item);
                        }
                    }
                }
            }
            for (key, value) in entries {
                if key.as_str() != Some("<<") {
                    object.insert(scalar(&to_json(key)).unwrap_or_default(), to_json(value));
                }
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
    }
}

/// A scalar as the string a program would see in its environment.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|items| items.iter().filter_map(scalar).collect()).unwrap_or_default()
}

fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

// ------------------------------------------------------------------------------------------------
// docker-compose.yml

struct Compose {
    root: Value,
}

impl Compose {
    fn load() -> Self {
        let mut documents = yaml_documents(&read("docker-compose.yml"), "docker-compose.yml");
        assert_eq!(documents.len(), 1, "docker-compose.yml holds one document");
        Self { root: documents.remove(0) }
    }

    fn service(&self, name: &str) -> &Value {
        let service = &self.root["services"][name];
        assert!(service.is_object(), "docker-compose.yml has no service {name}");
        service
    }

    /// The environment of a service, interpolated with the defaults the file gives.
    fn env(&self, name: &str) -> BTreeMap<String, String> {
        let environment = &self.service(name)["environment"];
        let mut env = BTreeMap::new();
        match environment {
            Value::Object(entries) => {
                for (key, value) in entries {
                    env.insert(key.clone(), interpolate(&scalar(value).unwrap_or_default()));
                }
            }
            Value::Array(entries) => {
                for entry in entries.iter().filter_map(scalar) {
                    let (key, value) = entry.split_once('=').unwrap_or((entry.as_str(), ""));
                    env.insert(key.to_owned(), interpolate(value));
                }
            }
            _ => {}
        }
        env
    }

    fn command(&self, name: &str) -> Vec<String> {
        let command = &self.service(name)["command"];
        match command {
            Value::String(text) => text.split_whitespace().map(str::to_owned).collect(),
            other => strings(other),
        }
    }

    /// (host port, container port) of each `ports:` entry.
    fn published(&self, name: &str) -> Vec<(u16, u16)> {
        let mut published = Vec::new();
        for entry in self.service(name)["ports"].as_array().cloned().unwrap_or_default() {
            match entry {
                Value::Object(long) => {
                    let target = scalar(&long["target"]).and_then(|port| port.parse().ok());
                    let host = scalar(&long["published"]).and_then(|port| port.parse().ok());
                    if let (Some(host), Some(target)) = (host, target) {
                        published.push((host, target));
                    }
                }
                short => {
                    let text = scalar(&short).unwrap_or_default();
                    let text = text.split('/').next().unwrap_or_default();
                    let parts: Vec<&str> = text.rsplitn(3, ':').collect();
                    if let [container, host, ..] = parts.as_slice()
                        && let (Ok(host), Ok(container)) = (host.parse(), container.parse())
                    {
                        published.push((host, container));
                    }
                }
            }
        }
        published
    }

    fn depends_on(&self, name: &str) -> BTreeMap<String, String> {
        let mut conditions = BTreeMap::new();
        match &self.service(name)["depends_on"] {
            Value::Object(entries) => {
                for (dependency, spec) in entries {
                    let condition = scalar(&spec["condition"]).unwrap_or_else(|| "service_started".to_owned());
                    conditions.insert(dependency.clone(), condition);
                }
            }
            list => {
                for dependency in strings(list) {
                    conditions.insert(dependency, "service_started".to_owned());
                }
            }
        }
        conditions
    }

    fn secrets_of(&self, name: &str) -> Vec<(String, String)> {
        // (secret name, path in the container)
        let mut secrets = Vec::new();
        for entry in self.service(name)["secrets"].as_array().cloned().unwrap_or_default() {
            match entry {
                Value::Object(long) => {
                    let source = scalar(&long["source"]).unwrap_or_default();
                    let target = scalar(&long["target"]).unwrap_or_else(|| source.clone());
                    let path = if target.starts_with('/') { target } else { format!("/run/secrets/{target}") };
                    secrets.push((source, path));
                }
                short => {
                    let source = scalar(&short).unwrap_or_default();
                    secrets.push((source.clone(), format!("/run/secrets/{source}")));
                }
            }
        }
        secrets
    }
}

/// Compose's interpolation with an empty environment: `${NAME:-default}` and `${NAME-default}`
/// give the default, `${NAME}`, `${NAME:?message}` and `$NAME` nothing, `$$` a dollar.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').unwrap_or_else(|| panic!("unclosed ${{ in {text:?}"));
            let expression = &body[..end];
            let name_end =
                expression.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(expression.len());
            let operator = &expression[name_end..];
            if let Some(default) = operator.strip_prefix(":-").or_else(|| operator.strip_prefix('-')) {
                out.push_str(&interpolate(default));
            }
            rest = &body[end + 1..];
        } else {
            let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            rest = &after[end..];
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn compose_services_are_the_four_expected() {
    let compose = Compose::load();
    let names: BTreeSet<&str> =
        compose.root["services"].as_object().expect("services").keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["auth-service", "migrate", "postgres", "resource-service"]));
    assert_eq!(compose.service("postgres")["image"], "postgres:15");
    let healthcheck = strings(&compose.service("postgres")["healthcheck"]["test"]).join(" ");
    assert!(healthcheck.contains("pg_isready"), "postgres health check: {healthcheck}");
}

#[test]
fn compose_environment_is_what_the_binaries_take() {
    let compose = Compose::load();
    for service in ["migrate", "auth-service", "resource-service"] {
        let argv = compose.command(service);
        assert!(!argv.is_empty(), "{service} has an explicit command");
        let binary = Binary::for_program(&argv[0]);
        let env = compose.env(service);
        let unknown: Vec<&String> = env.keys().filter(|name| !binary.knows(name)).collect();
        assert!(unknown.is_empty(), "{service} sets variables {} does not know: {unknown:?}", binary.name);
        binary.parse(&argv, &env).unwrap_or_else(|error| panic!("{service}: {error}"));
        assert!(
            env.contains_key("DATABASE_URL") || env.contains_key("DATABASE_URL_FILE"),
            "{service} is given no database"
        );

        // Secrets are files: each *_FILE names a compose secret attached to the service.
        let attached = compose.secrets_of(service);
        for (name, path) in env.iter().filter(|(name, _)| name.ends_with("_FILE")) {
            let secret = attached.iter().find(|(_, target)| target == path);
            let Some((secret, _)) = secret else {
                panic!("{service}: {name}={path} is no secret attached to the service ({attached:?})");
            };
            assert!(compose.root["secrets"][secret].is_object(), "secret {secret} is not defined at the top level");
        }
    }
    assert_eq!(compose.command("migrate"), ["auth-service", "migrate", "up"]);
}

#[test]
fn compose_runs_each_service_on_the_worker_threads_of_its_pod() {
    let compose = Compose::load();
    for rendering in renderings() {
        for name in ["auth-service", "resource-service"] {
            let workload = Workload::find(&rendering, "Deployment", name);
            let in_compose = compose.env(name).remove(WORKER_THREADS_VAR);
            assert_eq!(
                in_compose,
                workload.worker_threads(&rendering),
                "{name}: {WORKER_THREADS_VAR} in docker-compose.yml is not what {} runs",
                workload.label
            );
        }
    }
}

#[test]
fn compose_ports_and_health_checks_follow_the_listen_addresses() {
    let compose = Compose::load();
    let auth_port = Binary::auth().listen().1;
    for (service, binary) in [("auth-service", Binary::auth()), ("resource-service", Binary::resource())] {
        let env = compose.env(service);
        let (variable, port) = binary.listen();
        let value = env.get(&variable).unwrap_or_else(|| panic!("{service} does not set {variable}"));
        let address: SocketAddr = value.parse().unwrap_or_else(|error| panic!("{variable}={value}: {error}"));
        assert!(
            address.ip().is_unspecified(),
            "{service}: {variable}={value} is unreachable from outside the container"
        );
        assert_eq!(address.port(), port, "{service}: {variable} keeps the binary's default port");
        let published = compose.published(service);
        assert!(
            published.iter().any(|(_, container)| *container == port),
            "{service} does not publish its port {port} ({published:?})"
        );

        let probe = strings(&compose.service(service)["healthcheck"]["test"]);
        assert!(probe.iter().any(|word| word.ends_with("grpc_health_probe")), "{service} health check: {probe:?}");
        assert!(
            probe.iter().any(|word| *word == format!("-addr=127.0.0.1:{port}")),
            "{service} probes its port: {probe:?}"
        );

        let stop = scalar(&compose.service(service)["stop_grace_period"]).unwrap_or_else(|| "10s".to_owned());
        let stop = humantime::parse_duration(&stop).expect("stop_grace_period is a duration");
        let grace = binary.shutdown_grace(&env);
        assert!(stop > grace, "{service}: stop_grace_period {stop:?} must exceed the drain {grace:?}");
    }
    assert_eq!(compose.env("resource-service")["AUTH_SERVICE_URL"], format!("http://auth-service:{auth_port}"));
}

#[test]
fn compose_start_order() {
    let compose = Compose::load();
    let expect = |service: &str, wanted: &[(&str, &str)]| {
        let actual = compose.depends_on(service);
        for (dependency, condition) in wanted {
            assert_eq!(actual.get(*dependency).map(String::as_str), Some(*condition), "{service} -> {dependency}");
        }
    };
    expect("migrate", &[("postgres", "service_healthy")]);
    expect("auth-service", &[("postgres", "service_healthy"), ("migrate", "service_completed_successfully")]);
    expect(
        "resource-service",
        &[
            ("postgres", "service_healthy"),
            ("migrate", "service_completed_successfully"),
            ("auth-service", "service_healthy"),
        ],
    );
}

// ------------------------------------------------------------------------------------------------
// deploy/k8s

/// The objects of deploy/k8s, as one renderer produced them.
struct Rendering {
    renderer: &'static str,
    objects: Vec<Value>,
}

impl Rendering {
    fn get(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|object| object["kind"] == kind && object["metadata"]["name"] == name)
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |object| object["kind"] == kind)
    }

    /// The keys of a ConfigMap or Secret with their values (Secret `data` values stay encoded).
    fn keys(&self, kind: &str, name: &str) -> Option<BTreeMap<String, String>> {
        let found = self.get(kind, name)?;
        let mut keys = BTreeMap::new();
        for field in ["data", "stringData", "binaryData"] {
            for (key, value) in object(&found[field]) {
                keys.insert(key, scalar(&value).unwrap_or_default());
            }
        }
        Some(keys)
    }
}

/// `kubectl kustomize deploy/k8s` when kubectl is on PATH, and always our own reading.
#[expect(clippy::print_stderr, reason = "tells why only one renderer was checked")]
fn renderings() -> Vec<Rendering> {
    let mut renderings = vec![Rendering { renderer: "own renderer", objects: render_without_kubectl() }];
    if let Some(kubectl) = on_path("kubectl") {
        let output = Process::new(&kubectl)
            .arg("kustomize")
            .arg(workspace_root().join("deploy/k8s"))
            .output()
            .expect("running kubectl kustomize");
        assert!(
            output.status.success(),
            "kubectl kustomize deploy/k8s failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).expect("kubectl prints UTF-8");
        renderings
            .push(Rendering { renderer: "kubectl kustomize", objects: yaml_documents(&text, "kubectl kustomize") });
    } else {
        eprintln!("kubectl is not on PATH: deploy/k8s is checked through the test's own renderer only");
    }
    renderings
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// The kustomization's `resources` files and `configMapGenerator`/`secretGenerator` entries
/// (without name hashes, so references stay consistent); anything else kustomize does here
/// (images) changes nothing these tests look at.
fn render_without_kubectl() -> Vec<Value> {
    let base = "deploy/k8s";
    let kustomization = yaml_documents(&read(&format!("{base}/kustomization.yaml")), "kustomization.yaml").remove(0);
    let mut objects = Vec::new();
    for resource in strings(&kustomization["resources"]) {
        let path = format!("{base}/{resource}");
        assert!(workspace_root().join(&path).is_file(), "{path}: the test's renderer reads files only");
        objects.extend(yaml_documents(&read(&path), &path));
    }
    for (generator, kind) in [("configMapGenerator", "ConfigMap"), ("secretGenerator", "Secret")] {
        for spec in kustomization[generator].as_array().cloned().unwrap_or_default() {
            let mut data = Map::new();
            for literal in strings(&spec["literals"]) {
                let (key, value) = literal.split_once('=').expect("a literal is KEY=VALUE");
                data.insert(key.to_owned(), Value::String(value.to_owned()));
            }
            for file in strings(&spec["envs"]).into_iter().chain(scalar(&spec["env"])) {
                for (key, value) in env_file(&read(&format!("{base}/{file}"))) {
                    data.insert(key, Value::String(value));
                }
            }
            for file in strings(&spec["files"]) {
                let (key, path) = file.split_once('=').map_or_else(
                    || (basename(&file).to_owned(), file.clone()),
                    |(key, path)| (key.to_owned(), path.to_owned()),
                );
                data.insert(key, Value::String(read(&format!("{base}/{path}"))));
            }
            let mut generated = serde_json::json!({
                "apiVersion": "v1",
                "kind": kind,
                "metadata": { "name": spec["name"].clone(), "labels": spec["options"]["labels"].clone() },
            });
            let field = if kind == "Secret" { "stringData" } else { "data" };
            generated[field] = Value::Object(data);
            objects.push(generated);
        }
    }
    objects
}

/// A kustomize env file: KEY=VALUE lines, `#` comments.
fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            (key.trim().to_owned(), value.to_owned())
        })
        .collect()
}

/// A Deployment or Job and the one container that runs our program.
struct Workload<'a> {
    label: String,
    owner: &'a Value,
    pod: &'a Value,
    container: &'a Value,
    binary: Binary,
    argv: Vec<String>,
}

impl<'a> Workload<'a> {
    fn find(rendering: &'a Rendering, kind: &str, name: &str) -> Self {
        let object = rendering.get(kind, name).unwrap_or_else(|| panic!("{}: no {kind} {name}", rendering.renderer));
        let pod = &object["spec"]["template"]["spec"];
        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{kind} {name} runs one container");
        let container = &containers[0];
        let argv: Vec<String> = strings(&container["command"]).into_iter().chain(strings(&container["args"])).collect();
        assert!(!argv.is_empty(), "{kind} {name}: the container names its program in `command`");
        let binary = Binary::for_program(&argv[0]);
        Self { label: format!("{} {kind} {name}", rendering.renderer), owner: object, pod, container, binary, argv }
    }

    /// The worker threads tokio runs in the pod: the ConfigMap's `TOKIO_WORKER_THREADS`, else
    /// the container's CPU limit rounded down (as `available_parallelism` reads a cgroup quota),
    /// at least one; `None` without either (one per node CPU).
    fn worker_threads(&self, rendering: &Rendering) -> Option<String> {
        if let Some(configured) = self.env(rendering).remove(WORKER_THREADS_VAR).flatten() {
            return Some(configured);
        }
        let limit = scalar(&self.container["resources"]["limits"]["cpu"])?;
        let cpus = match limit.strip_suffix('m') {
            Some(millis) => millis.parse::<f64>().map(|millis| millis / 1000.0),
            None => limit.parse::<f64>(),
        };
        let cpus = cpus.unwrap_or_else(|_| panic!("{}: a CPU limit of {limit:?}", self.label));
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a few CPUs, positive")]
        Some((cpus.floor() as u64).max(1).to_string())
    }

    fn labels(&self) -> Map<String, Value> {
        object(&self.owner["spec"]["template"]["metadata"]["labels"])
    }

    /// Every variable the container gets, with its value where the rendering knows it.
    fn env(&self, rendering: &Rendering) -> BTreeMap<String, Option<String>> {
        let mut env = BTreeMap::new();
        for source in self.container["envFrom"].as_array().cloned().unwrap_or_default() {
            let prefix = scalar(&source["prefix"]).unwrap_or_default();
            let (kind, reference) = if source["configMapRef"].is_object() {
                ("ConfigMap", &source["configMapRef"])
            } else {
                ("Secret", &source["secretRef"])
            };
            let name = scalar(&reference["name"]).unwrap_or_default();
            let keys = rendering
                .keys(kind, &name)
                .unwrap_or_else(|| panic!("{}: envFrom {kind} {name} is not in the rendering", self.label));
            for (key, value) in keys {
                let value = (kind == "ConfigMap").then_some(value);
                env.insert(format!("{prefix}{key}"), value);
            }
        }
        for entry in self.container["env"].as_array().cloned().unwrap_or_default() {
            let name = scalar(&entry["name"]).expect("env entries have a name");
            let from = &entry["valueFrom"];
            let value = if let Some(value) = scalar(&entry["value"]) {
                Some(value)
            } else if from["configMapKeyRef"].is_object() || from["secretKeyRef"].is_object() {
                let (kind, reference) = if from["configMapKeyRef"].is_object() {
                    ("ConfigMap", &from["configMapKeyRef"])
                } else {
                    ("Secret", &from["secretKeyRef"])
                };
                let (source, key) =
                    (scalar(&reference["name"]).unwrap_or_default(), scalar(&reference["key"]).unwrap_or_default());
                let keys = rendering.keys(kind, &source).unwrap_or_else(|| {
                    panic!("{}: {name} refers to {kind} {source}, not in the rendering", self.label)
                });
                let value = keys.get(&key).unwrap_or_else(|| {
                    panic!("{}: {name} refers to key {key} missing from {kind} {source}", self.label)
                });
                (kind == "ConfigMap").then(|| value.clone())
            } else {
                None
            };
            env.insert(name, value);
        }
        env
    }

    /// The variables whose values are known, for the parser.
    fn known_env(&self, rendering: &Rendering) -> BTreeMap<String, String> {
        self.env(rendering).into_iter().filter_map(|(name, value)| Some((name, value?))).collect()
    }

    fn port_named(&self, name: &str) -> Option<u16> {
        self.container["ports"]
            .as_array()?
            .iter()
            .find(|port| port["name"] == name)
            .and_then(|port| port["containerPort"].as_u64())
            .and_then(|port| u16::try_from(port).ok())
    }
}

/// Whether a label selector (matchLabels / matchExpressions) selects pods with `labels`.
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let match_labels = object(&selector["matchLabels"]);
    let labels_match = match_labels.iter().all(|(key, value)| labels.get(key) == Some(value));
    let expressions_match =
        selector["matchExpressions"].as_array().cloned().unwrap_or_default().iter().all(|expression| {
            let key = scalar(&expression["key"]).unwrap_or_default();
            let values = strings(&expression["values"]);
            let actual = labels.get(&key).and_then(scalar);
            match scalar(&expression["operator"]).as_deref() {
                Some("In") => actual.is_some_and(|actual| values.contains(&actual)),
                Some("NotIn") => !actual.is_some_and(|actual| values.contains(&actual)),
                Some("Exists") => actual.is_some(),
                Some("DoesNotExist") => actual.is_none(),
                other => panic!("unknown selector operator {other:?}"),
            }
        });
    labels_match && expressions_match
}

/// A Service's or policy's `port` entry matches `port` (by number, or by the container port name).
fn port_matches(entry: &Value, port: u16, port_name: &str) -> bool {
    entry.as_u64() == Some(u64::from(port)) || entry.as_str() == Some(port_name)
}

const WORKLOADS: [(&str, &str); 3] =
    [("Deployment", "auth-service"), ("Deployment", "resource-service"), ("Job", "migrate")];

#[test]
fn k8s_environment_is_what_the_binaries_take() {
    for rendering in renderings() {
        for (kind, name) in WORKLOADS {
            let workload = Workload::find(&rendering, kind, name);
            let env = workload.env(&rendering);
            let unknown: Vec<&String> = env.keys().filter(|variable| !workload.binary.knows(variable)).collect();
            assert!(
                unknown.is_empty(),
                "{}: variables {} does not know: {unknown:?}",
                workload.label,
                workload.binary.name
            );
            workload
                .binary
                .parse(&workload.argv, &workload.known_env(&rendering))
                .unwrap_or_else(|error| panic!("{}: {error}", workload.label));
            // Secrets never sit in the environment: only their file paths do.
            for secret in ["DATABASE_URL", "AUTH_JWT_SECRET"] {
                assert!(!env.contains_key(secret), "{}: {secret} belongs in a file ({secret}_FILE)", workload.label);
            }
            assert!(env.contains_key("DATABASE_URL_FILE"), "{}: no DATABASE_URL_FILE", workload.label);
        }
        let auth = Workload::find(&rendering, "Deployment", "auth-service");
        assert!(auth.env(&rendering).contains_key("AUTH_JWT_SECRET_FILE"), "{}: no AUTH_JWT_SECRET_FILE", auth.label);
    }
}

#[test]
fn k8s_secret_files_are_mounted_secret_keys() {
    for rendering in renderings() {
        for (kind, name) in WORKLOADS {
            let workload = Workload::find(&rendering, kind, name);
            for (variable, path) in
                workload.known_env(&rendering).into_iter().filter(|(variable, _)| variable.ends_with("_FILE"))
            {
                let mounts = workload.container["volumeMounts"].as_array().cloned().unwrap_or_default();
                let mount = mounts.iter().find(|mount| {
                    scalar(&mount["mountPath"])
                        .is_some_and(|dir| path.starts_with(&format!("{}/", dir.trim_end_matches('/'))))
                });
                let mount =
                    mount.unwrap_or_else(|| panic!("{}: {variable}={path} lies in no volume mount", workload.label));
                assert_eq!(mount["readOnly"], true, "{}: the mount of {variable} is read-only", workload.label);
                let dir = scalar(&mount["mountPath"]).unwrap_or_default();
                let file = path[dir.trim_end_matches('/').len() + 1..].to_owned();
                let volume_name = scalar(&mount["name"]).unwrap_or_default();
                let volumes = workload.pod["volumes"].as_array().cloned().unwrap_or_default();
                let volume = volumes.iter().find(|volume| volume["name"] == volume_name.as_str());
                let volume = volume.unwrap_or_else(|| panic!("{}: no volume {volume_name}", workload.label));
                let secret_name = scalar(&volume["secret"]["secretName"])
                    .unwrap_or_else(|| panic!("{}: volume {volume_name} of {variable} is no Secret", workload.label));
                let keys = rendering
                    .keys("Secret", &secret_name)
                    .unwrap_or_else(|| panic!("{}: Secret {secret_name} is not in the rendering", workload.label));
                let key = match volume["secret"]["items"].as_array() {
                    Some(items) => items
                        .iter()
                        .find(|item| item["path"] == file.as_str())
                        .and_then(|item| scalar(&item["key"]))
                        .unwrap_or_else(|| panic!("{}: {file} is no item of volume {volume_name}", workload.label)),
                    None => file.clone(),
                };
                assert!(
                    keys.contains_key(&key),
                    "{}: Secret {secret_name} has no key {key} (for {variable})",
                    workload.label
                );
            }
        }
    }
}

#[test]
fn k8s_ports_probes_and_services_follow_the_listen_addresses() {
    for rendering in renderings() {
        let auth_port = Binary::auth().listen().1;
        for name in ["auth-service", "resource-service"] {
            let workload = Workload::find(&rendering, "Deployment", name);
            let label = &workload.label;
            let env = workload.known_env(&rendering);
            let (variable, port) = workload.binary.listen();
            let value = env.get(&variable).unwrap_or_else(|| panic!("{label}: {variable} is not set"));
            let address: SocketAddr =
                value.parse().unwrap_or_else(|error| panic!("{label}: {variable}={value}: {error}"));
            assert!(address.ip().is_unspecified(), "{label}: {variable}={value} is unreachable from other pods");
            assert_eq!(address.port(), port, "{label}: {variable} keeps the binary's default port");
            assert_eq!(workload.port_named("grpc"), Some(port), "{label}: container port `grpc`");

            // Readiness through the gRPC health protocol; startup and liveness on the same port.
            let container = workload.container;
            assert_eq!(
                container["readinessProbe"]["grpc"]["port"].as_u64(),
                Some(u64::from(port)),
                "{label}: readiness"
            );
            for probe in ["startupProbe", "livenessProbe"] {
                let probe_value = &container[probe];
                let target = if probe_value["grpc"].is_object() {
                    &probe_value["grpc"]["port"]
                } else {
                    &probe_value["tcpSocket"]["port"]
                };
                assert!(port_matches(target, port, "grpc"), "{label}: {probe} checks port {port}: {probe_value}");
            }

            // A Service for the port; for auth, also the headless one.
            let labels = workload.labels();
            let services: Vec<&Value> = rendering
                .of_kind("Service")
                .filter(|service| selects(&json_selector(&service["spec"]["selector"]), &labels))
                .collect();
            assert!(!services.is_empty(), "{label}: no Service selects the pods");
            for service in &services {
                let ports = service["spec"]["ports"].as_array().cloned().unwrap_or_default();
                assert!(
                    ports.iter().any(|entry| entry["port"].as_u64() == Some(u64::from(port))
                        && port_matches(&entry["targetPort"], port, "grpc")),
                    "{label}: Service {} serves port {port}",
                    service["metadata"]["name"]
                );
            }
            if name == "auth-service" {
                assert!(
                    services.iter().any(|service| service["spec"]["clusterIP"] == "None"),
                    "{label}: a headless Service"
                );
                assert!(
                    services.iter().any(|service| service["spec"]["clusterIP"] != "None"),
                    "{label}: a ClusterIP Service"
                );
            }

            // Some policy lets the port in.
            let ingress_open = rendering
                .of_kind("NetworkPolicy")
                .filter(|policy| selects(&policy["spec"]["podSelector"], &labels))
                .any(|policy| {
                    policy["spec"]["ingress"].as_array().cloned().unwrap_or_default().iter().any(|rule| {
                        rule["ports"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .iter()
                            .any(|entry| port_matches(&entry["port"], port, "grpc"))
                    })
                });
            assert!(ingress_open, "{label}: no NetworkPolicy lets port {port} in");

            // Metrics: once the binary has METRICS_ADDR, a declared `metrics` port must be served.
            let metrics_port = workload.port_named("metrics").filter(|_| workload.binary.knows("METRICS_ADDR"));
            if let Some(metrics_port) = metrics_port {
                let value = env.get("METRICS_ADDR").unwrap_or_else(|| {
                    panic!("{label}: declares port `metrics` {metrics_port}: set METRICS_ADDR=0.0.0.0:{metrics_port} (the default is loopback)")
                });
                let address: SocketAddr =
                    value.parse().unwrap_or_else(|error| panic!("{label}: METRICS_ADDR={value}: {error}"));
                assert!(
                    address.ip().is_unspecified() && address.port() == metrics_port,
                    "{label}: METRICS_ADDR={value} vs port {metrics_port}"
                );
            }
        }

        // resource -> auth: the URL names a Service of the auth pods, on the auth port, and the
        // resource pods may reach it.
        let resource = Workload::find(&rendering, "Deployment", "resource-service");
        let url = resource.known_env(&rendering).get("AUTH_SERVICE_URL").cloned().expect("AUTH_SERVICE_URL");
        let authority = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).expect("an http(s) URL");
        let (host, port) = authority.trim_end_matches('/').rsplit_once(':').expect("the URL has a port");
        assert_eq!(port.parse::<u16>().ok(), Some(auth_port), "{url}: the auth port");
        let service_name = host.split('.').next().unwrap_or_default();
        let service =
            rendering.get("Service", service_name).unwrap_or_else(|| panic!("{url}: no Service {service_name}"));
        let auth = Workload::find(&rendering, "Deployment", "auth-service");
        assert!(
            selects(&json_selector(&service["spec"]["selector"]), &auth.labels()),
            "{url}: Service {service_name} selects the auth pods"
        );
        // Behind a headless Service the resource pods balance only when they re-resolve the name,
        // and must drop a terminating auth pod (refresh + DNS TTL) before its preStop sleep ends.
        if service["spec"]["clusterIP"] == "None" && resource.binary.knows(DNS_REFRESH_VARIABLE) {
            let env = resource.known_env(&rendering);
            let refresh = env.get(DNS_REFRESH_VARIABLE).unwrap_or_else(|| {
                panic!("{url} is headless: set {DNS_REFRESH_VARIABLE}, or every resource pod uses one auth pod")
            });
            let refresh = humantime::parse_duration(refresh).expect("a duration");
            let sleep = auth.container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap_or(0);
            assert!(
                Duration::from_secs(sleep) >= refresh + HEADLESS_DNS_TTL,
                "auth preStop sleep {sleep}s must cover {DNS_REFRESH_VARIABLE} {refresh:?} + DNS TTL {HEADLESS_DNS_TTL:?}"
            );
        }
        let resource_labels = resource.labels();
        let egress_open = rendering
            .of_kind("NetworkPolicy")
            .filter(|policy| selects(&policy["spec"]["podSelector"], &resource_labels))
            .any(|policy| {
                policy["spec"]["egress"].as_array().cloned().unwrap_or_default().iter().any(|rule| {
                    rule["ports"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .any(|entry| port_matches(&entry["port"], auth_port, "grpc"))
                })
            });
        assert!(egress_open, "no NetworkPolicy lets resource-service out to auth on {auth_port}");
    }
}

/// A Service's plain `selector` map, in the form `selects` takes.
fn json_selector(selector: &Value) -> Value {
    serde_json::json!({ "matchLabels": selector.clone() })
}

#[test]
fn k8s_pods_are_hardened_and_drain_within_their_grace_period() {
    for rendering in renderings() {
        for (kind, name) in WORKLOADS {
            let workload = Workload::find(&rendering, kind, name);
            let (label, pod, container) = (&workload.label, workload.pod, workload.container);
            let context = &container["securityContext"];
            let pod_context = &pod["securityContext"];
            assert!(context["runAsNonRoot"] == true || pod_context["runAsNonRoot"] == true, "{label}: runAsNonRoot");
            assert_eq!(context["readOnlyRootFilesystem"], true, "{label}: readOnlyRootFilesystem");
            assert_eq!(context["allowPrivilegeEscalation"], false, "{label}: allowPrivilegeEscalation");
            assert!(
                strings(&context["capabilities"]["drop"]).contains(&"ALL".to_owned()),
                "{label}: drops ALL capabilities"
            );
            assert!(
                context["seccompProfile"]["type"] == "RuntimeDefault"
                    || pod_context["seccompProfile"]["type"] == "RuntimeDefault",
                "{label}: seccomp RuntimeDefault"
            );
            for bound in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        !container["resources"][bound][resource].is_null(),
                        "{label}: resources.{bound}.{resource}"
                    );
                }
            }
            if kind == "Deployment" {
                let env = workload.known_env(&rendering);
                let grace = workload.binary.shutdown_grace(&env);
                let sleep = container["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64().unwrap_or(0);
                let termination = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
                assert!(
                    Duration::from_secs(termination) > Duration::from_secs(sleep) + grace,
                    "{label}: terminationGracePeriodSeconds {termination} must exceed preStop {sleep}s + drain {grace:?}"
                );
            }
        }
    }
}

#[test]
fn k8s_deployments_have_two_replicas_a_budget_and_an_autoscaler() {
    for rendering in renderings() {
        for name in ["auth-service", "resource-service"] {
            let deployment = rendering.get("Deployment", name).expect("the Deployment");
            assert_eq!(deployment["spec"]["replicas"], 2, "{name}: replicas");
            let labels = object(&deployment["spec"]["template"]["metadata"]["labels"]);
            assert!(
                rendering.of_kind("PodDisruptionBudget").any(|budget| selects(&budget["spec"]["selector"], &labels)),
                "{name}: no PodDisruptionBudget"
            );
            let autoscaler = rendering
                .of_kind("HorizontalPodAutoscaler")
                .find(|hpa| {
                    hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
                        && hpa["spec"]["scaleTargetRef"]["name"] == name
                })
                .unwrap_or_else(|| panic!("{name}: no HorizontalPodAutoscaler"));
            assert_eq!(autoscaler["apiVersion"], "autoscaling/v2", "{name}: HPA version");
            assert!(autoscaler["spec"]["minReplicas"].as_u64() >= Some(2), "{name}: minReplicas");
        }
    }
}

#[test]
#[expect(clippy::print_stderr, reason = "tells why the comparison was skipped")]
fn own_renderer_agrees_with_kubectl() {
    let renderings = renderings();
    let [own, kubectl] = renderings.as_slice() else {
        eprintln!("kubectl is not on PATH: nothing to compare");
        return;
    };
    // Generated names carry a content hash with kubectl: compare without it.
    let names = |rendering: &Rendering| -> BTreeSet<(String, String)> {
        rendering
            .objects
            .iter()
            .map(|object| {
                let kind = scalar(&object["kind"]).unwrap_or_default();
                let mut name = scalar(&object["metadata"]["name"]).unwrap_or_default();
                if kind == "ConfigMap" && own.get("ConfigMap", &name).is_none() {
                    name = name.rsplit_once('-').map(|(stem, _)| stem.to_owned()).unwrap_or(name);
                }
                (kind, name)
            })
            .collect()
    };
    assert_eq!(names(own), names(kubectl));
}

// ------------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

/// The Dockerfile's instructions (continuation lines joined, comments dropped), by stage.
fn dockerfile_stages() -> Vec<Vec<String>> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => current.push_str(&format!("{} ", head.trim())),
            None => {
                current.push_str(trimmed);
                if !current.is_empty() {
                    instructions.push(std::mem::take(&mut current));
                }
            }
        }
    }
    let mut stages: Vec<Vec<String>> = Vec::new();
    for instruction in instructions {
        if instruction.to_ascii_uppercase().starts_with("FROM ") {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(instruction);
        }
    }
    stages
}

#[test]
fn dockerfile_builds_both_binaries_into_a_non_root_runtime() {
    let stages = dockerfile_stages();
    let all: Vec<&String> = stages.iter().flatten().collect();
    assert!(
        all.iter().any(|line| line.starts_with("RUN ")
            && line.contains("cargo build --release --locked -p auth-service -p resource-service")),
        "the build command"
    );
    let runtime = stages.last().expect("a stage");
    let user = runtime.iter().rev().find_map(|line| line.strip_prefix("USER ")).expect("the runtime stage sets USER");
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|uid| uid.trim().parse().ok())
        .expect("a numeric USER (runAsNonRoot checks it)");
    assert_ne!(uid, 0, "the runtime user is not root");
    assert!(
        !runtime.iter().any(|line| line.starts_with("RUN ")),
        "nothing runs in the runtime stage (no shell, no build tools)"
    );
    let copies = runtime.iter().filter(|line| line.starts_with("COPY ")).cloned().collect::<Vec<_>>().join("\n");
    for program in ["auth-service", "resource-service", "grpc_health_probe"] {
        assert!(copies.contains(program), "the runtime stage gets {program}");
    }
    let exposed: BTreeSet<u16> = runtime
        .iter()
        .filter_map(|line| line.strip_prefix("EXPOSE "))
        .flat_map(|ports| {
            ports.split_whitespace().filter_map(|port| port.split('/').next()?.parse().ok()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(exposed, BTreeSet::from([Binary::auth().listen().1, Binary::resource().listen().1]), "EXPOSE");
    let (auth, resource) = (Binary::auth(), Binary::resource());
    for variable in runtime
        .iter()
        .filter_map(|line| line.strip_prefix("ENV "))
        .flat_map(|assignments| assignments.split_whitespace().map(|word| word.split('=').next().unwrap_or(word)))
    {
        assert!(
            auth.knows(variable) || resource.knows(variable),
            "the image sets {variable}, which neither binary reads"
        );
    }
    // Compose builds this Dockerfile from the workspace root.
    let compose = Compose::load();
    for service in ["migrate", "auth-service", "resource-service"] {
        assert_eq!(compose.service(service)["build"]["context"], ".", "{service} builds the workspace");
        assert_eq!(compose.service(service)["build"]["dockerfile"], "Dockerfile");
    }
}

#[test]
fn dockerignore_keeps_what_the_build_needs() {
    let patterns: Vec<(bool, String)> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match line.strip_prefix('!') {
            Some(kept) => (false, kept.trim_matches('/').to_owned()),
            None => (true, line.trim_matches('/').to_owned()),
        })
        .collect();
    let ignored = |path: &str| {
        // Docker: the last matching pattern decides; a pattern matching a parent folder ignores
        // everything below it.
        let parents: Vec<String> = path
            .split('/')
            .scan(String::new(), |prefix, part| {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(part);
                Some(prefix.clone())
            })
            .collect();
        patterns
            .iter()
            .rev()
            .find(|(_, pattern)| parents.iter().any(|candidate| glob(pattern, candidate)))
            .is_some_and(|(ignore, _)| *ignore)
    };
    assert!(ignored("target") && ignored(".git"), ".dockerignore keeps target/ and .git/ out");
    let root = workspace_root();
    let mut needed =
        vec!["Cargo.toml".to_owned(), "Cargo.lock".to_owned(), "proto".to_owned(), "migrations".to_owned()];
    for entry in std::fs::read_dir(&root).expect("the workspace root") {
        let path = entry.expect("an entry").path();
        if path.join("Cargo.toml").is_file() {
            let member = path.file_name().and_then(|name| name.to_str()).expect("a UTF-8 name").to_owned();
            for inner in ["Cargo.toml", "src", "build.rs", "examples"] {
                if path.join(inner).exists() {
                    needed.push(format!("{member}/{inner}"));
                }
            }
        }
    }
    for path in needed {
        assert!(!ignored(&path), ".dockerignore excludes {path}, which the build needs");
    }
}

/// Docker's `filepath.Match` plus `**`, enough for .dockerignore.
fn glob(pattern: &str, path: &str) -> bool {
    fn segments(pattern: &[&str], path: &[&str]) -> bool {
        match (pattern.split_first(), path.split_first()) {
            (None, None) => true,
            (Some((&"**", rest)), _) => segments(rest, path) || (!path.is_empty() && segments(pattern, &path[1..])),
            (Some((head, rest)), Some((name, names))) => {
                segment(head.as_bytes(), name.as_bytes()) && segments(rest, names)
            }
            _ => false,
        }
    }
    fn segment(pattern: &[u8], name: &[u8]) -> bool {
        match (pattern.split_first(), name.split_first()) {
            (None, None) => true,
            (Some((b'*', rest)), _) => segment(rest, name) || (!name.is_empty() && segment(pattern, &name[1..])),
            (Some((b'?', rest)), Some((_, names))) => segment(rest, names),
            (Some((expected, rest)), Some((actual, names))) => expected == actual && segment(rest, names),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments(&pattern, &path)
}
