//! Locations of the pinned tools that `deploy/install-tools.sh` installs into `.tools/`.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("testkit lives two levels below the workspace root")
        .to_path_buf()
}

/// The `.tools` directory (`BILIPULSE_TOOLS` overrides).
pub fn tools_dir() -> PathBuf {
    std::env::var_os("BILIPULSE_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".tools"))
}

/// The `nats-server` binary: `BILIPULSE_NATS_SERVER`, else `.tools/nats/bin/nats-server`, else
/// `None`.
pub fn nats_server() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BILIPULSE_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let p = tools_dir().join("nats/bin/nats-server");
    p.is_file().then_some(p)
}

/// A binary of this workspace (`bilipulse-ingester`, `bilipulse-windower`, …) built in the same
/// target directory and profile as the running test: `target/<profile>/<name>`, found from the
/// test executable (`target/<profile>/deps/<test>`). `None` when it is not built.
///
/// Cargo only builds the binaries of the package under test (`CARGO_BIN_EXE_*`), so a test
/// that runs another package's service as a process looks for it here; CI builds every
/// workspace binary before the tests, a local run may skip (see [`crate::require`]).
pub fn workspace_bin(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let p = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

/// The `oteltap` OTLP/HTTP receiver (PyPI `oteltap`, printing spans as NDJSON) in the tools
/// venv, if installed (`deploy/requirements-otel.txt`).
pub fn oteltap() -> Option<PathBuf> {
    let p = tools_dir().join("venv/bin/oteltap");
    p.is_file().then_some(p)
}

/// The Python interpreter of the tools venv (with nats-py and msgpack), if installed.
pub fn python() -> Option<PathBuf> {
    let p = tools_dir().join("venv/bin/python");
    p.is_file().then_some(p)
}

/// The `node_modules` directory with the JavaScript consumer's packages, if installed.
pub fn node_modules() -> Option<PathBuf> {
    let p = tools_dir().join("node/node_modules");
    p.is_dir().then_some(p)
}

/// The gateway's built dashboard (`services/gateway/dashboard/dist`), if built.
pub fn dashboard_dist() -> Option<PathBuf> {
    let p = workspace_root().join("services/gateway/dashboard/dist");
    p.join("index.html").is_file().then_some(p)
}

/// The browser driver (`services/gateway/dashboard/e2e/driver.mjs`) with its packages and a
/// Chromium to drive (`BILIPULSE_CHROMIUM`, default `/usr/bin/chromium`), if all are there.
pub fn browser_driver() -> Option<PathBuf> {
    let dash = workspace_root().join("services/gateway/dashboard");
    let chromium = std::env::var_os("BILIPULSE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = dash.join("e2e/driver.mjs");
    (driver.is_file() && dash.join("node_modules/playwright-core").is_dir() && chromium.is_file())
        .then_some(driver)
}
