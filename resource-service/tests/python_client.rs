//! Stubs in another language: Python stubs generated from `proto/` with grpcio-tools (PyPI) drive
//! both services through `clients/python/client.py`, errors and their google.rpc.ErrorInfo
//! included.
//!
//! Needs `python3` with `venv` (or at least `pip`) and, on the first run, PyPI: the packages of
//! `clients/python/requirements.txt` are installed once into `<target>/python-venv` and reused
//! while that file is unchanged.

use std::ffi::OsString;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use auth_service::passwords::HashCost;
use auth_service::secret::Secret;
use auth_service::settings::ephemeral_secret;
use tokio::process::Command;
use tokio::sync::oneshot;

/// How long the client may take against the running services.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long creating the virtualenv and installing the packages may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(900);
/// Written beside the installed packages: the requirements they were installed from.
const STAMP: &str = "installed-requirements.txt";

#[tokio::test(flavor = "multi_thread")]
async fn a_python_client_built_from_the_protos_talks_to_both_services() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root");
    // `<target>/devkit`: `$CARGO_TARGET_DIR` or the workspace's `target`.
    let devkit_dir = devkit::devkit_dir().expect("the workspace target directory");
    let target = devkit_dir.parent().expect("the target directory");

    let python = python_with_requirements(workspace, target).await;
    let stubs = generate_stubs(&python, workspace, target).await;
    let services = start_services().await;

    let started = Instant::now();
    let mut client = python.command();
    client
        .arg(workspace.join("clients/python/client.py"))
        .arg("--auth")
        .arg(services.auth.to_string())
        .arg("--resource")
        .arg(services.resource.to_string())
        .arg("--stubs")
        .arg(&stubs);
    let output = run(client, "the Python client", CLIENT_TIMEOUT).await;
    assert_success(&output, "the Python client");
    println!("{}(the client took {:.1?})", String::from_utf8_lossy(&output.stdout), started.elapsed());

    drop(services);
    let _ = fs::remove_dir_all(&stubs);
}

/// How to run a Python that has the client's packages.
struct Python {
    executable: PathBuf,
    /// `PYTHONPATH` when the packages were installed with `pip --target`.
    packages: Option<PathBuf>,
}

impl Python {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.executable);
        if let Some(packages) = &self.packages {
            command.env("PYTHONPATH", packages);
        }
        // UTF-8 output whatever the locale; no __pycache__ in the source tree.
        command.env("PYTHONUTF8", "1").env("PYTHONDONTWRITEBYTECODE", "1");
        command
    }
}

/// A Python with `clients/python/requirements.txt` installed: `<target>/python-venv`, made with
/// `python3 -m venv`, or where that is unavailable `<target>/python-packages` for
/// `pip install --target`. Either is reused while the requirements are unchanged.
async fn python_with_requirements(workspace: &Path, target: &Path) -> Python {
    let requirements_file = workspace.join("clients/python/requirements.txt");
    let requirements = fs::read_to_string(&requirements_file).expect("clients/python/requirements.txt");
    let venv = target.join("python-venv");
    let in_venv = || Python { executable: venv.join("bin/python"), packages: None };
    let packages = target.join("python-packages");
    let with_packages = || Python { executable: "python3".into(), packages: Some(packages.clone()) };
    let installed = |dir: &Path| fs::read_to_string(dir.join(STAMP)).is_ok_and(|stamp| stamp == requirements);
    if installed(&venv) && imports_the_packages(&in_venv()).await {
        return in_venv();
    }
    if installed(&packages) && imports_the_packages(&with_packages()).await {
        return with_packages();
    }

    let started = Instant::now();
    let _ = fs::remove_dir_all(&venv);
    let mut make_venv = Command::new("python3");
    make_venv.args(["-m", "venv"]).arg(&venv);
    let made = run(make_venv, "python3 -m venv", INSTALL_TIMEOUT).await;
    let (python, dir) = if made.status.success() {
        (in_venv(), &venv)
    } else {
        // Debian's python3 has no venv without the python3-venv package.
        println!(
            "`python3 -m venv` failed, installing with `pip install --target` instead:\n{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let _ = fs::remove_dir_all(&venv);
        let _ = fs::remove_dir_all(&packages);
        (with_packages(), &packages)
    };
    let mut install = python.command();
    install.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r"]).arg(&requirements_file);
    if python.packages.is_some() {
        install.arg("--target").arg(dir);
    }
    let output = run(install, "pip install", INSTALL_TIMEOUT).await;
    assert_success(&output, "pip install -r clients/python/requirements.txt");
    fs::write(dir.join(STAMP), &requirements).expect("write the requirements stamp");
    println!("installed the Python packages into {} in {:.1?}", dir.display(), started.elapsed());
    python
}

/// Whether `python` runs and finds the packages (a venv breaks when its base Python goes away).
async fn imports_the_packages(python: &Python) -> bool {
    let mut check = python.command();
    check.args(["-c", "import grpc, grpc_tools.protoc, grpc_status.rpc_status, google.rpc.error_details_pb2"]);
    check.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true);
    let status = tokio::time::timeout(CLIENT_TIMEOUT, check.status()).await;
    status.is_ok_and(|status| status.is_ok_and(|status| status.success()))
}

/// Generates the stubs of every `.proto` file under `proto/` into a fresh folder under
/// `<target>/tmp`, with the standard command (`python -m grpc_tools.protoc -I proto
/// --python_out=DIR --grpc_python_out=DIR …`), and makes each generated folder a package.
async fn generate_stubs(python: &Python, workspace: &Path, target: &Path) -> PathBuf {
    let out = target.join("tmp").join(format!("python-stubs-{}", devkit::grpc::unique()));
    fs::create_dir_all(&out).expect("create the stubs folder");
    let proto = workspace.join("proto");
    let mut protos = Vec::new();
    files_under(&proto, &mut protos);
    let mut protos: Vec<PathBuf> = protos
        .into_iter()
        .filter(|file| file.extension().is_some_and(|ext| ext == "proto"))
        .map(|file| file.strip_prefix(&proto).expect("a file under proto/").to_path_buf())
        .collect();
    protos.sort();
    assert!(!protos.is_empty(), "no .proto file under {}", proto.display());

    let flag = |name: &str| {
        let mut flag = OsString::from(name);
        flag.push(&out);
        flag
    };
    let mut protoc = python.command();
    protoc
        .current_dir(&proto)
        .args(["-m", "grpc_tools.protoc", "-I", "."])
        .arg(flag("--python_out="))
        .arg(flag("--grpc_python_out="))
        .args(&protos);
    assert_success(&run(protoc, "grpc_tools.protoc", CLIENT_TIMEOUT).await, "grpc_tools.protoc");

    // `resource` is also a standard-library module, which wins over a folder without __init__.py.
    let mut generated = Vec::new();
    files_under(&out, &mut generated);
    for file in &generated {
        let mut dir = file.parent();
        while let Some(folder) = dir.filter(|folder| *folder != out) {
            fs::write(folder.join("__init__.py"), "").expect("write an __init__.py");
            dir = folder.parent();
        }
    }
    out
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|error| panic!("read {}: {error}", dir.display())) {
        let path = entry.expect("a folder entry").path();
        if path.is_dir() {
            files_under(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// Both services on a fresh database; dropping this stops them.
struct Services {
    auth: SocketAddr,
    resource: SocketAddr,
    _stop: [oneshot::Sender<()>; 2],
}

async fn start_services() -> Services {
    let database_url = devkit::test_database().await.expect("a test database").url;
    let mut auth_settings = auth_service::Settings::new(Secret::new(&database_url), ephemeral_secret());
    auth_settings.listen_addr = "127.0.0.1:0".parse().expect("an address");
    auth_settings.passwords.cost = HashCost { memory_kib: 4096, iterations: 1, parallelism: 1 };
    let auth_app = auth_service::Application::build(auth_settings).await.expect("the auth service builds");
    let auth = auth_app.local_addr();

    let mut settings = resource_service::Settings::new(Secret::new(&database_url), format!("http://{auth}"));
    settings.listen_addr = "127.0.0.1:0".parse().expect("an address");
    let resource_app = resource_service::Application::build(settings).await.expect("the resource service builds");
    let resource = resource_app.local_addr();

    let (stop_auth, auth_stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        auth_app.run_until(async { drop(auth_stopped.await) }).await.expect("the auth service runs");
    });
    let (stop_resource, resource_stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        resource_app.run_until(async { drop(resource_stopped.await) }).await.expect("the resource service runs");
    });
    Services { auth, resource, _stop: [stop_auth, stop_resource] }
}

/// Runs `command` to completion with its output captured; killed after `timeout`.
async fn run(mut command: Command, what: &str, timeout: Duration) -> Output {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let child = command.spawn().unwrap_or_else(|error| panic!("cannot start {what}: {error}"));
    tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} took longer than {timeout:?} (killed)"))
        .unwrap_or_else(|error| panic!("waiting for {what}: {error}"))
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}).\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
