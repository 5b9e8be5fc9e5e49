//! The running stack: its supervised processes by role, started in dependency order, scaled one
//! replica at a time, stopped in [`Role::STOP_ORDER`].

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ScalableRole;
use crate::error::StackError;
use crate::plan::{Plan, ProcessSpec, Role, SIM_SESSDATA};
use crate::ports;
use crate::supervisor::{Phase, Readiness, Status, Supervised};

/// The processes of one local stack.
#[derive(Debug)]
pub struct Stack {
    plan: Plan,
    http: reqwest::Client,
    processes: Mutex<BTreeMap<Role, Vec<Supervised>>>,
    /// Set once every initial process is ready: scaling waits for that.
    started: std::sync::atomic::AtomicBool,
}

impl Stack {
    /// Checks that the binaries are there and the ports free, and prepares the data directory
    /// (logs, the gateway's API token, the simulated cookie). Starts nothing.
    pub fn prepare(plan: Plan) -> Result<Stack, StackError> {
        for spec in plan.initial() {
            if !spec.program.is_file() {
                let hint = if spec.role == Role::Nats {
                    "run deploy/install-tools.sh"
                } else {
                    "deploy/run.sh builds it; or point --bin-dir at a target directory"
                };
                return Err(StackError::MissingBinary {
                    path: spec.program,
                    hint,
                });
            }
        }
        let busy = ports::busy(&plan.ports());
        if !busy.is_empty() {
            return Err(StackError::BusyPorts(busy));
        }
        let files = plan.files();
        let io = |path: &std::path::Path| {
            let path = path.to_path_buf();
            move |source| StackError::DataDir { path, source }
        };
        std::fs::create_dir_all(&files.logs).map_err(io(&files.logs))?;
        if !files.api_token.is_file() {
            write_secret(&files.api_token, &random_token()).map_err(io(&files.api_token))?;
        }
        write_secret(&files.sim_cookie, SIM_SESSDATA).map_err(io(&files.sim_cookie))?;
        Ok(Stack {
            plan,
            http: reqwest::Client::new(),
            processes: Mutex::new(BTreeMap::new()),
            started: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The plan it runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Starts every process role by role (NATS, simulator, ingesters, windowers, gateway), each
    /// role's processes together, and waits until each is ready before the next role.
    /// `interrupt` (a signal) ends the wait; what started is stopped by [`Stack::stop`].
    pub async fn start(&self, interrupt: &CancellationToken) -> Result<(), StackError> {
        let mut by_role: BTreeMap<Role, Vec<ProcessSpec>> = BTreeMap::new();
        for spec in self.plan.initial() {
            by_role.entry(spec.role).or_default().push(spec);
        }
        for (role, specs) in by_role {
            tracing::info!(?role, count = specs.len(), "starting");
            let started: Vec<Supervised> = specs.into_iter().map(|s| self.supervise(s)).collect();
            let probes: Vec<Readiness> = started.iter().map(Supervised::readiness).collect();
            self.processes
                .lock()
                .await
                .entry(role)
                .or_default()
                .extend(started);
            let all = async {
                for probe in &probes {
                    probe.wait(&self.http, self.ready_timeout()).await?;
                }
                Ok(())
            };
            tokio::select! {
                r = all => r?,
                () = interrupt.cancelled() => return Err(StackError::Interrupted),
            }
        }
        self.started
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    fn ready_timeout(&self) -> Duration {
        self.plan.args().ready_timeout
    }

    fn supervise(&self, spec: ProcessSpec) -> Supervised {
        Supervised::start(spec, &self.plan.files().logs, self.plan.args().stop_grace)
    }

    /// The status of every process, in start order.
    pub async fn statuses(&self) -> Vec<Status> {
        let processes = self.processes.lock().await;
        processes
            .values()
            .flatten()
            .map(Supervised::status)
            .collect()
    }

    /// Adds (`step` 1) or removes (`step` -1, the newest) one replica of `role` and returns
    /// the added or removed one's status. An added replica is ready when this returns.
    pub async fn scale(&self, role: ScalableRole, step: i32) -> Result<Status, StackError> {
        if !self.started.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StackError::Starting);
        }
        let mut processes = self.processes.lock().await;
        let list = processes.entry(Role::from(role)).or_default();
        if step > 0 {
            let index = list.len() as u16;
            let spec = self.plan.replica(role, index);
            let busy = ports::busy(&[(spec.name.clone(), spec.ports[0])]);
            if !busy.is_empty() {
                return Err(StackError::BusyPorts(busy));
            }
            let added = self.supervise(spec);
            let probe = added.readiness();
            list.push(added);
            drop(processes);
            probe.wait(&self.http, self.ready_timeout()).await?;
            Ok(probe.status())
        } else {
            if list.len() <= 1 {
                return Err(StackError::LastReplica(role.name()));
            }
            let removed = list.pop().expect("more than one");
            drop(processes);
            let mut status = removed.status();
            removed.stop().await;
            status.pid = None;
            status.phase = Phase::Stopped;
            Ok(status)
        }
    }

    /// Stops everything, role by role in [`Role::STOP_ORDER`], each role's processes together.
    pub async fn stop(&self) {
        let mut processes = self.processes.lock().await;
        for role in Role::STOP_ORDER {
            let Some(list) = processes.remove(&role) else {
                continue;
            };
            if list.is_empty() {
                continue;
            }
            tracing::info!(?role, count = list.len(), "stopping");
            let mut stopping = JoinSet::new();
            for p in list {
                stopping.spawn(p.stop());
            }
            stopping.join_all().await;
        }
    }

    /// The HTTP client of the stack's probes.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

/// 32 random letters and digits.
fn random_token() -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// Writes a file readable by its owner only.
fn write_secret(path: &std::path::Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{value}")
}
