//! One supervised process, as the kubelet runs a container: started, restarted with back-off
//! when it dies (the rest of the stack keeps running), stopped with SIGTERM and, after a grace
//! period, SIGKILL.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use bilipulse_runtime::backoff::Backoff;
use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::StackError;
use crate::plan::{ProcessSpec, Role};

/// A process that ran this long before dying starts its next back-off from the floor again,
/// as the kubelet resets CrashLoopBackOff after ten minutes of running (shorter here: a local
/// stack is watched by a person).
const HEALTHY_RUN: Duration = Duration::from_secs(60);
/// Variables passed from the stack's environment to every process; all others are cleared, so
/// the stack's own `BILIPULSE_*` settings (ports, counts) never reach a service.
const PASSED_ENV: [&str; 7] = [
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "RUST_BACKTRACE",
    "BILIPULSE_LOG",
    "BILIPULSE_LOG_FORMAT",
];

/// The back-off between restarts: 0.5 s doubling to 30 s.
fn restart_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 2.0)
        .expect("constant backoff is valid")
}

/// Where a supervised process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Being started for the first time.
    Starting,
    /// Running (ready or not).
    Running,
    /// Died (or could not be started); waiting before the next start.
    BackingOff,
    /// SIGTERM sent; waiting for it to exit.
    Stopping,
    /// Stopped by the stack.
    Stopped,
}

/// What `ps` shows of one process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Status {
    /// Its name (`ingester-1`).
    pub name: String,
    /// What it is.
    pub role: Role,
    /// The running process's id.
    pub pid: Option<u32>,
    /// Where it is.
    pub phase: Phase,
    /// How often it was restarted after dying (or failing to start).
    pub restarts: u32,
    /// How the last run ended, when one did.
    pub last_exit: Option<String>,
}

/// A process under supervision. Dropping it does not stop the process: call
/// [`Supervised::stop`].
#[derive(Debug)]
pub struct Supervised {
    spec: ProcessSpec,
    log: PathBuf,
    status: watch::Receiver<Status>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Supervised {
    /// Starts `spec`, its output appended to `<log_dir>/<name>.log`, and keeps it running.
    /// `grace` is how long it has between SIGTERM and SIGKILL.
    pub fn start(spec: ProcessSpec, log_dir: &Path, grace: Duration) -> Supervised {
        let log = log_dir.join(format!("{}.log", spec.name));
        let (tx, status) = watch::channel(Status {
            name: spec.name.clone(),
            role: spec.role,
            pid: None,
            phase: Phase::Starting,
            restarts: 0,
            last_exit: None,
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(supervise(
            spec.clone(),
            log.clone(),
            grace,
            tx,
            stop.clone(),
        ));
        Supervised {
            spec,
            log,
            status,
            stop,
            task,
        }
    }

    /// What it runs.
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// Its current status.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// What waiting for it to become ready needs, owned, so that the wait holds no lock on
    /// the stack's process table.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            url: self.spec.ready_url.clone(),
            log: self.log.clone(),
            status: self.status.clone(),
        }
    }

    /// Stops it (SIGTERM to its process group, SIGKILL after the grace period) and waits.
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

async fn supervise(
    spec: ProcessSpec,
    log: PathBuf,
    grace: Duration,
    status: watch::Sender<Status>,
    stop: CancellationToken,
) {
    let mut delays = restart_backoff().delays();
    loop {
        let exit = match spawn(&spec, &log) {
            Ok(mut child) => {
                let pid = child.id();
                let started = Instant::now();
                status.send_modify(|s| {
                    s.pid = pid;
                    s.phase = Phase::Running;
                });
                tracing::info!(name = %spec.name, pid, "started");
                tokio::select! {
                    exited = child.wait() => {
                        if started.elapsed() >= HEALTHY_RUN {
                            delays.reset();
                        }
                        match exited {
                            Ok(s) => s.to_string(),
                            Err(e) => format!("wait failed: {e}"),
                        }
                    }
                    () = stop.cancelled() => {
                        status.send_modify(|s| s.phase = Phase::Stopping);
                        terminate(&spec.name, &mut child, grace).await;
                        status.send_modify(|s| { s.phase = Phase::Stopped; s.pid = None; });
                        return;
                    }
                }
            }
            Err(e) => format!("could not start {}: {e}", spec.program.display()),
        };
        let delay = delays.next_delay();
        tracing::warn!(
            name = %spec.name, exit = %exit, restart_in = ?delay, log = %log.display(),
            "process ended unexpectedly; restarting it (the rest keeps running)"
        );
        status.send_modify(|s| {
            s.pid = None;
            s.phase = Phase::BackingOff;
            s.restarts += 1;
            s.last_exit = Some(exit);
        });
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stop.cancelled() => {
                status.send_modify(|s| s.phase = Phase::Stopped);
                return;
            }
        }
    }
}

fn spawn(spec: &ProcessSpec, log: &Path) -> std::io::Result<Child> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let err = out.try_clone()?;
    let passed = std::env::vars()
        .filter(|(k, _)| PASSED_ENV.contains(&k.as_str()) || k.starts_with("OTEL_"));
    Command::new(&spec.program)
        .args(&spec.args)
        .env_clear()
        .envs(passed)
        .envs(&spec.env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a Ctrl-C in the terminal reaches only the stack, which then
        // stops everything in order; and a stop reaches whatever the process started itself.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
}

/// SIGTERM to the process group, then SIGKILL if it is still there after `grace`.
async fn terminate(name: &str, child: &mut Child, grace: Duration) {
    let Some(group) = child.id().and_then(|id| Pid::from_raw(id as i32)) else {
        return; // already reaped
    };
    let _ = kill_process_group(group, Signal::TERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(_) => tracing::info!(name, "stopped"),
        Err(_) => {
            tracing::warn!(
                name,
                ?grace,
                "still running after the grace period; SIGKILL"
            );
            let _ = kill_process_group(group, Signal::KILL);
            let _ = child.wait().await;
        }
    }
}

/// A process's readiness probe (its ready URL) and its status, to wait on.
#[derive(Debug, Clone)]
pub struct Readiness {
    url: String,
    log: PathBuf,
    status: watch::Receiver<Status>,
}

impl Readiness {
    /// Waits until the ready URL answers 2xx. Fails if the process dies (or cannot start)
    /// first, naming its log, or after `within`.
    pub async fn wait(&self, http: &reqwest::Client, within: Duration) -> Result<(), StackError> {
        let deadline = Instant::now() + within;
        loop {
            let status = self.status.borrow().clone();
            if status.restarts > 0 {
                return Err(StackError::DiedStarting {
                    name: status.name,
                    exit: status.last_exit.unwrap_or_default(),
                    log: self.log.clone(),
                });
            }
            let probe = http
                .get(&self.url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StackError::NotReady {
                    name: status.name,
                    within,
                    log: self.log.clone(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The process's status now.
    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }
}
