//! The real Bilibili captures shared with the project (never copied into it).
//!
//! They live in `../shared/fixtures/bilibili` beside the workspace; `BILIPULSE_FIXTURES`
//! overrides the location.

use std::path::{Path, PathBuf};

/// The fixtures directory if it exists. Under CI its absence panics (see [`crate::require`]).
pub fn dir() -> Option<PathBuf> {
    let p = std::env::var_os("BILIPULSE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::tools::workspace_root().join("../shared/fixtures/bilibili"));
    crate::require(
        "the Bilibili fixtures (../shared/fixtures/bilibili or BILIPULSE_FIXTURES)",
        p.is_dir().then_some(p),
    )
}

/// Every file under `dir/sub` with the given extension, sorted, recursively.
pub fn files(dir: &Path, sub: &str, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.join(sub)];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Reads a fixture as JSON.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
