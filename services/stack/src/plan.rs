//! What the local stack runs: one [`ProcessSpec`] per process, built from [`UpArgs`] alone, so
//! that the plan can be read (and tested) before anything starts.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::config::{ScalableRole, UpArgs};

/// The simulator's named rooms: `real_id[/short_id]:profile[:commands per second]`.
pub const SIM_ROOMS: &str =
    "21452505/5269:busy,865138:normal,22603245:busy:40,1017:quiet,21396545:sessions";
/// The simulated account the local ingesters log in with: its SESSDATA cookie and uid.
pub const SIM_SESSDATA: &str = "local%2Csessdata%2C7001";
/// The uid of [`SIM_SESSDATA`].
pub const SIM_UID: u64 = 7001;
/// Nodes of `--nats-cluster`.
pub const CLUSTER_NODES: u16 = 3;

/// What a process is, in the order the stack starts them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// nats-server with JetStream.
    Nats,
    /// The Bilibili simulator.
    Simulator,
    /// An ingester replica.
    Ingester,
    /// A windower replica.
    Windower,
    /// The gateway.
    Gateway,
}

impl Role {
    /// The order of a stop: ingesters first, while NATS is still there to hand their rooms over
    /// and drain into; then the windowers, which commit their final checkpoints into NATS; the
    /// gateway, the simulator; NATS last.
    pub const STOP_ORDER: [Role; 5] = [
        Role::Ingester,
        Role::Windower,
        Role::Gateway,
        Role::Simulator,
        Role::Nats,
    ];
}

impl From<ScalableRole> for Role {
    fn from(r: ScalableRole) -> Role {
        match r {
            ScalableRole::Ingester => Role::Ingester,
            ScalableRole::Windower => Role::Windower,
        }
    }
}

/// How to start one process and how to know it is ready.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessSpec {
    /// Its name in logs and `ps`: `nats-0`, `ingester-1`, `gateway`.
    pub name: String,
    /// What it is.
    pub role: Role,
    /// The binary.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its environment (on top of PATH, HOME, LANG, TZ, RUST_BACKTRACE and OTEL_*).
    pub env: BTreeMap<String, String>,
    /// An HTTP URL that answers 2xx once it is ready.
    pub ready_url: String,
    /// The ports it listens on, checked free before the stack starts.
    pub ports: Vec<u16>,
}

/// Files the stack writes into the data directory before starting.
#[derive(Debug, Clone)]
pub struct DataFiles {
    /// The data directory.
    pub root: PathBuf,
    /// Logs, one file per process name.
    pub logs: PathBuf,
    /// The gateway's bearer token for room writes.
    pub api_token: PathBuf,
    /// The simulated SESSDATA cookie.
    pub sim_cookie: PathBuf,
}

impl DataFiles {
    /// The files under `root`.
    pub fn under(root: &Path) -> DataFiles {
        DataFiles {
            root: root.to_path_buf(),
            logs: root.join("logs"),
            api_token: root.join("api-token"),
            sim_cookie: root.join("sim-sessdata"),
        }
    }
}

/// Builds the specs of one stack.
#[derive(Debug, Clone)]
pub struct Plan {
    args: UpArgs,
    files: DataFiles,
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Plan {
    /// The plan of `args`, with its files under `args.data_dir`.
    pub fn new(args: UpArgs) -> Plan {
        let files = DataFiles::under(&args.data_dir);
        Plan { args, files }
    }

    /// The arguments.
    pub fn args(&self) -> &UpArgs {
        &self.args
    }

    /// The data files.
    pub fn files(&self) -> &DataFiles {
        &self.files
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.args.bin_dir.join(name)
    }

    fn nodes(&self) -> u16 {
        if self.args.nats_cluster {
            CLUSTER_NODES
        } else {
            1
        }
    }

    /// The NATS URL every service connects to (all nodes, comma separated, in a cluster).
    pub fn nats_url(&self) -> String {
        (0..self.nodes())
            .map(|i| format!("nats://127.0.0.1:{}", self.args.nats_port + i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The nats-server nodes.
    pub fn nats(&self) -> Vec<ProcessSpec> {
        let a = &self.args;
        let nodes = self.nodes();
        (0..nodes)
            .map(|i| {
                let (port, monitor) = (a.nats_port + i, a.nats_monitor_port + i);
                let name = format!("nats-{i}");
                let store = self.files.root.join(&name);
                let mut args = vec![
                    "-js".into(),
                    "-a".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    port.to_string(),
                    "-m".into(),
                    monitor.to_string(),
                    "-n".into(),
                    name.clone(),
                    "-sd".into(),
                    store.display().to_string(),
                ];
                let mut ports = vec![port, monitor];
                if a.nats_cluster {
                    let route = a.nats_route_port + i;
                    let routes: Vec<String> = (0..nodes)
                        .filter(|&j| j != i)
                        .map(|j| format!("nats://127.0.0.1:{}", a.nats_route_port + j))
                        .collect();
                    args.extend([
                        "--cluster_name".into(),
                        "bilipulse-local".into(),
                        "--cluster".into(),
                        format!("nats://127.0.0.1:{route}"),
                        "--routes".into(),
                        routes.join(","),
                    ]);
                    ports.push(route);
                }
                ProcessSpec {
                    name,
                    role: Role::Nats,
                    program: a.nats_server.clone(),
                    args,
                    env: BTreeMap::new(),
                    // JetStream's own health: in a cluster, only once the meta group has a leader.
                    ready_url: format!("http://{}/healthz?js-enabled-only=true", local(monitor)),
                    ports,
                }
            })
            .collect()
    }

    /// The simulator, unless --bilibili.
    pub fn simulator(&self) -> Option<ProcessSpec> {
        let a = &self.args;
        if a.bilibili {
            return None;
        }
        Some(ProcessSpec {
            name: "simulator".into(),
            role: Role::Simulator,
            program: self.bin("bilipulse-sim"),
            args: vec![
                "--listen".into(),
                a.sim_addr.to_string(),
                "--rooms".into(),
                SIM_ROOMS.into(),
                "--random-rooms".into(),
                a.rooms.to_string(),
                "--total-rate".into(),
                a.rate.to_string(),
                "--truth-log".into(),
                self.files
                    .root
                    .join("sim-truth.jsonl")
                    .display()
                    .to_string(),
                "--accounts".into(),
                format!("{SIM_SESSDATA}={SIM_UID}:bilipulse-local"),
            ],
            env: BTreeMap::new(),
            ready_url: format!("http://{}/admin/rooms", a.sim_addr),
            ports: vec![a.sim_addr.port()],
        })
    }

    /// The environment of the services (and of the stack's own `bilipulse` CLI steps): NATS,
    /// stream replicas and, with the simulator, the Bilibili endpoints pointed at it.
    pub fn service_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::from([("BILIPULSE_NATS_URL".to_owned(), self.nats_url())]);
        if self.args.nats_cluster {
            env.insert(
                "BILIPULSE_STREAM_REPLICAS".into(),
                CLUSTER_NODES.to_string(),
            );
        }
        if !self.args.bilibili {
            let base = format!("http://{}", self.args.sim_addr);
            env.insert("BILIPULSE_BILI_API_BASE".into(), base.clone());
            env.insert("BILIPULSE_BILI_LIVE_BASE".into(), base);
            env.insert("BILIPULSE_BILI_WS_SCHEME".into(), "ws".into());
            // Spacing of HTTP calls, one a second against Bilibili's per-address limits; the
            // simulator has none, and a stack of many rooms would take minutes to connect.
            env.insert("BILIPULSE_BILI_HTTP_INTERVAL".into(), "10ms".into());
        }
        env
    }

    /// The admin port of replica `index` of `role`.
    pub fn admin_port(&self, role: Role, index: u16) -> u16 {
        let base = self.args.admin_base_port;
        match role {
            Role::Gateway => base + 1,
            Role::Windower => base + 10 + index,
            Role::Ingester => base + 110 + index,
            Role::Nats => self.args.nats_monitor_port + index,
            Role::Simulator => self.args.sim_addr.port(),
        }
    }

    /// Replica `index` of a scalable role.
    pub fn replica(&self, role: ScalableRole, index: u16) -> ProcessSpec {
        let kind = role.name();
        let bin = format!("bilipulse-{kind}");
        let role = Role::from(role);
        let name = format!("{kind}-{index}");
        let admin = local(self.admin_port(role, index));
        let mut args = vec![
            "--id".into(),
            name.clone(),
            "--admin-addr".into(),
            admin.to_string(),
        ];
        if role == Role::Ingester {
            args.extend(self.login_args());
        }
        ProcessSpec {
            name,
            role,
            program: self.bin(&bin),
            args,
            env: self.service_env(),
            ready_url: format!("http://{admin}/readyz"),
            ports: vec![admin.port()],
        }
    }

    fn login_args(&self) -> Vec<String> {
        let a = &self.args;
        let (file, uid) = if a.bilibili {
            match (&a.bilibili_cookie_file, a.bilibili_uid) {
                (Some(f), Some(uid)) => (f.clone(), uid),
                _ => return Vec::new(),
            }
        } else if a.anonymous {
            return Vec::new();
        } else {
            (self.files.sim_cookie.clone(), SIM_UID)
        };
        vec![
            "--bili-cookie-file".into(),
            file.display().to_string(),
            "--bili-uid".into(),
            uid.to_string(),
        ]
    }

    /// The gateway.
    pub fn gateway(&self) -> ProcessSpec {
        let admin = local(self.admin_port(Role::Gateway, 0));
        ProcessSpec {
            name: "gateway".into(),
            role: Role::Gateway,
            program: self.bin("bilipulse-gateway"),
            args: vec![
                "--listen".into(),
                self.args.gateway_addr.to_string(),
                "--admin-addr".into(),
                admin.to_string(),
                "--api-token-file".into(),
                self.files.api_token.display().to_string(),
            ],
            env: self.service_env(),
            ready_url: format!("http://{admin}/readyz"),
            ports: vec![self.args.gateway_addr.port(), admin.port()],
        }
    }

    /// Every process of the initial stack, in start order.
    pub fn initial(&self) -> Vec<ProcessSpec> {
        let mut all = self.nats();
        all.extend(self.simulator());
        all.extend((0..self.args.ingesters).map(|i| self.replica(ScalableRole::Ingester, i)));
        all.extend((0..self.args.windowers).map(|i| self.replica(ScalableRole::Windower, i)));
        all.push(self.gateway());
        all
    }

    /// Every port the initial stack listens on, with the stack's control port, by owner name.
    pub fn ports(&self) -> Vec<(String, u16)> {
        let mut ports = vec![("control".to_owned(), self.args.admin_base_port)];
        for spec in self.initial() {
            ports.extend(spec.ports.iter().map(|&p| (spec.name.clone(), p)));
        }
        ports
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Cli, Command};

    fn plan(args: &[&str]) -> Plan {
        let cli: Cli = bilipulse_runtime::config::try_parse_from(
            ["bilipulse-stack", "up"]
                .into_iter()
                .chain(args.iter().copied()),
            &[],
        )
        .unwrap();
        let Command::Up(up) = cli.command else {
            panic!("up")
        };
        Plan::new(*up)
    }

    #[test]
    fn starts_in_dependency_order_and_ports_do_not_collide() {
        let p = plan(&["--ingesters", "3", "--windowers", "2"]);
        let roles: Vec<Role> = p.initial().iter().map(|s| s.role).collect();
        let mut sorted = roles.clone();
        sorted.sort();
        assert_eq!(roles, sorted);
        let names: Vec<String> = p.initial().into_iter().map(|s| s.name).collect();
        assert_eq!(names[2..5], ["ingester-0", "ingester-1", "ingester-2"]);
        let mut ports: Vec<u16> = p.ports().into_iter().map(|(_, port)| port).collect();
        let n = ports.len();
        ports.sort();
        ports.dedup();
        assert_eq!(ports.len(), n, "every port once");
    }

    #[test]
    fn logs_in_to_the_simulator_unless_anonymous() {
        let logged_in = plan(&[]).replica(ScalableRole::Ingester, 0);
        assert!(logged_in.args.contains(&"--bili-cookie-file".to_owned()));
        assert_eq!(logged_in.env["BILIPULSE_BILI_WS_SCHEME"], "ws");
        let anonymous = plan(&["--anonymous"]).replica(ScalableRole::Ingester, 0);
        assert!(!anonymous.args.contains(&"--bili-cookie-file".to_owned()));
    }

    #[test]
    fn a_cluster_has_three_routed_nodes_and_replicated_streams() {
        let p = plan(&["--nats-cluster"]);
        let nodes = p.nats();
        assert_eq!(nodes.len(), 3);
        assert!(
            nodes[0]
                .args
                .join(" ")
                .contains("--routes nats://127.0.0.1:6223,nats://127.0.0.1:6224")
        );
        let gw = p.gateway();
        assert_eq!(gw.env["BILIPULSE_STREAM_REPLICAS"], "3");
        assert_eq!(gw.env["BILIPULSE_NATS_URL"].split(',').count(), 3);
    }

    #[test]
    fn bilibili_mode_has_no_simulator_and_real_endpoints() {
        let p = plan(&["--bilibili", "--bilibili-rooms", "5269"]);
        assert!(p.simulator().is_none());
        assert!(!p.gateway().env.contains_key("BILIPULSE_BILI_API_BASE"));
    }
}
