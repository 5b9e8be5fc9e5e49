//! The command line of `bilipulse-stack`: `up` starts the local stack, `scale` and `ps` talk to
//! a running one through its control listener.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bilipulse_runtime::config::{LogConfig, parse_duration};

/// Runs the whole of bilipulse on this machine, supervised as Kubernetes runs it in a cluster.
#[derive(Debug, clap::Parser)]
#[command(name = "bilipulse-stack", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Starts nats-server, the simulator (or real Bilibili), the ingesters, the windowers and
    /// the gateway; restarts any that dies, with back-off; stops all of them in order
    /// (ingesters first) on Ctrl-C, SIGTERM or SIGHUP.
    Up(Box<UpArgs>),
    /// Adds or removes one ingester or windower on the running stack, as `kubectl scale` does
    /// to a Deployment, so rooms or key groups move between replicas.
    Scale(ScaleArgs),
    /// Lists the running stack's processes: role, name, pid, state, restarts.
    Ps(ControlArgs),
}

/// Where a running stack's control listener is.
#[derive(Debug, Clone, clap::Args)]
pub struct ControlArgs {
    /// The control listener of the running stack (`up --control-addr`).
    #[arg(
        long,
        env = "BILIPULSE_STACK_CONTROL_ADDR",
        default_value = "127.0.0.1:9090"
    )]
    pub control_addr: SocketAddr,
}

/// `scale <role> <+1|-1>`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Which replicas.
    #[arg(value_enum)]
    pub role: ScalableRole,
    /// `+1` adds a replica, `-1` stops the newest one.
    #[arg(allow_hyphen_values = true, value_parser = parse_step)]
    pub step: i32,
    /// The running stack.
    #[command(flatten)]
    pub control: ControlArgs,
}

/// The roles that run as several replicas.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ScalableRole {
    /// Rooms are shared among the ingesters.
    Ingester,
    /// Key groups are shared among the windowers.
    Windower,
}

impl ScalableRole {
    /// Its name: in replica names (`ingester-2`), binaries (`bilipulse-ingester`) and the
    /// control listener's paths (`/scale/ingester/1`), as serde spells it.
    pub fn name(self) -> &'static str {
        match self {
            ScalableRole::Ingester => "ingester",
            ScalableRole::Windower => "windower",
        }
    }
}

fn parse_step(s: &str) -> Result<i32, String> {
    match s {
        "+1" | "1" => Ok(1),
        "-1" => Ok(-1),
        _ => Err(format!("'{s}' is not +1 or -1 (one replica at a time)")),
    }
}

/// `up`: what to run and where.
#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Ingester replicas sharing the rooms.
    #[arg(long, env = "BILIPULSE_INGESTERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub ingesters: u16,
    /// Windower replicas sharing the key groups.
    #[arg(long, env = "BILIPULSE_WINDOWERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub windowers: u16,
    /// Generated rooms the simulator adds to its five named ones (all are registered).
    #[arg(long, env = "BILIPULSE_ROOMS", default_value_t = 0)]
    pub rooms: u32,
    /// Commands per second shared among the generated rooms.
    #[arg(long, env = "BILIPULSE_RATE", default_value_t = 200.0)]
    pub rate: f64,
    /// Three nats-servers clustered on loopback (routes on --nats-route-port and the next two),
    /// with every stream replicated three times, as in the cluster's StatefulSet.
    #[arg(long, env = "BILIPULSE_NATS_CLUSTER")]
    pub nats_cluster: bool,
    /// Connect anonymously to the simulator: viewers' names and uids are masked, as Bilibili
    /// masks them without a login, and distinct chatters are counted by CRC32 only.
    #[arg(long, env = "BILIPULSE_ANONYMOUS")]
    pub anonymous: bool,

    /// Real Bilibili instead of the simulator (needs internet access, which the project's
    /// build machines do not have): observe --bilibili-rooms.
    #[arg(long, env = "BILIPULSE_BILIBILI", requires = "bilibili_rooms")]
    pub bilibili: bool,
    /// The real rooms to observe with --bilibili (ids or short ids, comma separated).
    #[arg(long, env = "BILIPULSE_BILIBILI_ROOMS", value_delimiter = ',')]
    pub bilibili_rooms: Vec<String>,
    /// A file holding a Bilibili SESSDATA cookie for --bilibili (without one, names are masked).
    #[arg(
        long,
        env = "BILIPULSE_BILIBILI_COOKIE_FILE",
        requires = "bilibili_uid"
    )]
    pub bilibili_cookie_file: Option<PathBuf>,
    /// The uid of that cookie's account.
    #[arg(long, env = "BILIPULSE_BILIBILI_UID")]
    pub bilibili_uid: Option<u64>,

    /// Where the service binaries are (`deploy/run.sh` builds them into target/local).
    #[arg(long, env = "BILIPULSE_BIN_DIR", default_value = "target/local")]
    pub bin_dir: PathBuf,
    /// The nats-server binary (`deploy/install-tools.sh` installs it).
    #[arg(
        long,
        env = "BILIPULSE_NATS_SERVER",
        default_value = ".tools/nats/bin/nats-server"
    )]
    pub nats_server: PathBuf,
    /// JetStream data, logs, the API token and the simulated cookie; kept across runs.
    #[arg(long, env = "BILIPULSE_DATA_DIR", default_value = ".data")]
    pub data_dir: PathBuf,

    /// Client port of NATS (the cluster's nodes take it and the next two).
    #[arg(long, env = "BILIPULSE_NATS_PORT", default_value_t = 4222)]
    pub nats_port: u16,
    /// Monitoring port of NATS (likewise).
    #[arg(long, env = "BILIPULSE_NATS_MONITOR_PORT", default_value_t = 8222)]
    pub nats_monitor_port: u16,
    /// Cluster route port of the first NATS node with --nats-cluster.
    #[arg(long, env = "BILIPULSE_NATS_ROUTE_PORT", default_value_t = 6222)]
    pub nats_route_port: u16,
    /// The simulator's listener (its HTTP API and its WebSocket).
    #[arg(long, env = "BILIPULSE_SIM_ADDR", default_value = "127.0.0.1:9400")]
    pub sim_addr: SocketAddr,
    /// The gateway: dashboard, /ws and /api.
    #[arg(long, env = "BILIPULSE_GATEWAY_ADDR", default_value = "127.0.0.1:8080")]
    pub gateway_addr: SocketAddr,
    /// The stack's own control listener (`ps`, `scale`) is on this port; the gateway's admin
    /// port is the next, windower i's is base+10+i and ingester i's base+110+i.
    #[arg(long, env = "BILIPULSE_ADMIN_BASE_PORT", default_value_t = 9090)]
    pub admin_base_port: u16,

    /// How long each process may take to become ready.
    #[arg(long, env = "BILIPULSE_READY_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub ready_timeout: Duration,
    /// How long to wait for the first window summary once the rooms are registered.
    #[arg(long, env = "BILIPULSE_SUMMARY_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub summary_timeout: Duration,
    /// How long a stopping process has after SIGTERM before SIGKILL (Kubernetes'
    /// terminationGracePeriodSeconds).
    #[arg(long, env = "BILIPULSE_STOP_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub stop_grace: Duration,

    /// The stack's own log.
    #[command(flatten)]
    pub log: LogConfig,
}

impl UpArgs {
    /// The control listener: `127.0.0.1:<admin base port>`.
    pub fn control_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.admin_base_port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        bilipulse_runtime::config::try_parse_from::<Cli, _, _>(
            std::iter::once("bilipulse-stack").chain(args.iter().copied()),
            &[],
        )
    }

    #[test]
    fn up_defaults_are_the_documented_ones() {
        let Command::Up(up) = parse(&["up"]).unwrap().command else {
            panic!("up")
        };
        assert_eq!((up.ingesters, up.windowers, up.rooms), (2, 1, 0));
        assert!(!up.anonymous && !up.bilibili && !up.nats_cluster);
        assert_eq!(up.control_addr().port(), 9090);
    }

    #[test]
    fn scale_takes_one_replica_at_a_time() {
        let Command::Scale(s) = parse(&["scale", "ingester", "-1"]).unwrap().command else {
            panic!("scale")
        };
        assert_eq!((s.role, s.step), (ScalableRole::Ingester, -1));
        assert!(parse(&["scale", "windower", "+2"]).is_err());
        assert!(parse(&["up", "--ingesters", "0"]).is_err());
        assert!(
            parse(&["up", "--bilibili"]).is_err(),
            "--bilibili needs rooms"
        );
    }

    #[test]
    fn flags_are_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }
}
