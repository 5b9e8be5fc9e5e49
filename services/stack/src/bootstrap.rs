//! What follows the start, done as a user would with the `bilipulse` CLI: register the rooms,
//! then wait for the first window summary on the bus.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::error::StackError;
use crate::plan::Plan;

/// The rooms to register: with the simulator, every room it plays (short ids where it has
/// them, resolved by the CLI as a user's would be); with `--bilibili`, the given ones.
pub async fn rooms(plan: &Plan, http: &reqwest::Client) -> Result<Vec<String>, StackError> {
    let args = plan.args();
    if args.bilibili {
        return Ok(args.bilibili_rooms.clone());
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
    Ok(listing
        .rooms
        .iter()
        .map(|r| r.short_id.unwrap_or(r.room).to_string())
        .collect())
}

fn cli(plan: &Plan) -> Command {
    let mut cmd = Command::new(plan.args().bin_dir.join("bilipulse"));
    cmd.env_clear()
        .env("BILIPULSE_NATS_URL", plan.nats_url())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    if !plan.args().bilibili {
        let base = format!("http://{}", plan.args().sim_addr);
        cmd.env("BILIPULSE_BILI_API_BASE", &base)
            .env("BILIPULSE_BILI_LIVE_BASE", &base);
    }
    cmd
}

/// `bilipulse rooms add <rooms> --label local-sim`.
pub async fn register(plan: &Plan, rooms: &[String]) -> Result<(), StackError> {
    let label = if plan.args().bilibili {
        "local-bilibili"
    } else {
        "local-sim"
    };
    let out = cli(plan)
        .args(["rooms", "add"])
        .args(rooms)
        .args(["--label", label])
        .output()
        .await
        .map_err(|e| StackError::Cli {
            step: "registering the rooms",
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(StackError::Cli {
            step: "registering the rooms",
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
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
        })?
        .map_err(|e| StackError::Cli {
            step: "watching for summaries",
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(StackError::Cli {
            step: "watching for summaries",
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
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
