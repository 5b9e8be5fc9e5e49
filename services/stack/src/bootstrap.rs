//! What follows the start, done as a user would with the `bilipulse` CLI: register the rooms,
//! then wait for the first window summary on the bus.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::StackError;
use crate::plan::Plan;

/// The rooms to register, split by whether the CLI resolves them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rooms {
    /// Short ids (kept as aliases) and, with `--bilibili`, every given id: resolved through
    /// Bilibili's API (or the simulator's), as a user's would be.
    pub resolved: Vec<String>,
    /// Real ids of the simulator's rooms without a short id: registered as they are, so that
    /// a stack of a thousand generated rooms does not spend a thousand seconds resolving them.
    pub real: Vec<String>,
}

impl Rooms {
    /// How many.
    pub fn len(&self) -> usize {
        self.resolved.len() + self.real.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The rooms to register: with the simulator, every room it plays; with `--bilibili`, the
/// given ones.
pub async fn rooms(plan: &Plan, http: &reqwest::Client) -> Result<Rooms, StackError> {
    let args = plan.args();
    if args.bilibili {
        return Ok(Rooms {
            resolved: args.bilibili_rooms.clone(),
            real: Vec::new(),
        });
    }
    #[derive(serde::Deserialize)]
    struct Listing {
        rooms: Vec<SimRoom>,
    }
    #[derive(serde::Deserialize)]
    struct SimRoom {
        room: u64,
        short_id: Option<u64>,
    }
    let what = "listing the simulator's rooms";
    let http_err = |source| StackError::Http { what, source };
    let listing: Listing = http
        .get(format!("http://{}/admin/rooms", args.sim_addr))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(http_err)?
        .json()
        .await
        .map_err(http_err)?;
    let mut rooms = Rooms::default();
    for r in listing.rooms {
        match r.short_id {
            Some(short) => rooms.resolved.push(short.to_string()),
            None => rooms.real.push(r.room.to_string()),
        }
    }
    Ok(rooms)
}

fn cli(plan: &Plan) -> Command {
    let mut cmd = Command::new(plan.args().bin_dir.join("bilipulse"));
    cmd.env_clear()
        .envs(plan.service_env())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// `bilipulse rooms add <short ids> --label local-sim`, then `bilipulse rooms add --no-resolve
/// <real ids> --label local-sim`.
pub async fn register(plan: &Plan, rooms: &Rooms) -> Result<(), StackError> {
    let label = if plan.args().bilibili {
        "local-bilibili"
    } else {
        "local-sim"
    };
    for (ids, resolve) in [(&rooms.resolved, true), (&rooms.real, false)] {
        if !ids.is_empty() {
            add(plan, ids, resolve, label).await?;
        }
    }
    Ok(())
}

async fn add(plan: &Plan, ids: &[String], resolve: bool, label: &str) -> Result<(), StackError> {
    let mut cmd = cli(plan);
    cmd.args(["rooms", "add"])
        .args(ids)
        .args(["--label", label]);
    if !resolve {
        cmd.arg("--no-resolve");
    }
    succeeded("registering the rooms", cmd.output().await)?;
    Ok(())
}

/// Waits for the first window summary (`bilipulse tail --count 1 'bili.summary.>'`) and returns
/// its subject. A window's summary is published once the window has ended, the windower's
/// allowed lateness has passed and its key group has committed: a few seconds after the rooms
/// connect.
pub async fn first_summary(plan: &Plan, within: Duration) -> Result<String, StackError> {
    let tail = cli(plan)
        .args(["tail", "--count", "1", "bili.summary.>"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let out = tokio::time::timeout(within, tail)
        .await
        .map_err(|_| StackError::NoSummary {
            within,
            logs: plan.files().logs.clone(),
        })?;
    let out = succeeded("watching for summaries", out)?;
    #[derive(serde::Deserialize)]
    struct Line {
        subject: String,
    }
    let line: Line = serde_json::from_slice(&out.stdout).map_err(|e| StackError::Cli {
        step: "watching for summaries",
        detail: format!("unexpected output ({e})"),
    })?;
    Ok(line.subject)
}

/// The output of a CLI step that ran and exited 0, or why not.
fn succeeded(
    step: &'static str,
    out: std::io::Result<std::process::Output>,
) -> Result<std::process::Output, StackError> {
    let out = out.map_err(|e| StackError::Cli {
        step,
        detail: e.to_string(),
    })?;
    if !out.status.success() {
        return Err(StackError::Cli {
            step,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out)
}
