//! Command-line and environment configuration shared by every service.
//!
//! Each service's CLI flattens [`Args`] into its own clap parser, so every binary takes the same
//! flags, with the same `BILIPULSE_*` environment fallbacks:
//!
//! ```
//! use clap::Parser;
//!
//! /// The windower.
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     runtime: bilipulse_runtime::config::Args,
//!     // service-specific flags follow
//! }
//! let cli = bilipulse_runtime::config::try_parse_from::<Cli, _, _>(["windower"], &[]).unwrap();
//! assert_eq!(cli.runtime.nats.url, "nats://127.0.0.1:4222");
//! ```
//!
//! [`try_parse_from`] is the seam for tests: it parses an argument list against an explicit
//! environment instead of the process's, so no test has to mutate the real environment.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Command, CommandFactory, FromArgMatches};
use thiserror::Error;

use crate::backoff::Backoff;

/// Runtime flags common to every bilipulse service (`#[command(flatten)]` it).
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// NATS connection.
    #[command(flatten)]
    pub nats: NatsConfig,

    /// Address of the admin HTTP listener serving /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "BILIPULSE_ADMIN_ADDR",
        default_value = "127.0.0.1:9090",
        help_heading = "Admin"
    )]
    pub admin_addr: SocketAddr,

    /// Logging.
    #[command(flatten)]
    pub log: LogConfig,

    /// Deployment choices for the bus streams.
    #[command(flatten)]
    pub streams: StreamOverrides,

    /// Parse every flag and environment variable, check what can be checked without the
    /// network (files named by flags are readable), print the effective configuration with
    /// secrets hidden, and exit: 0 when valid. For CI, images and manifests' dry runs.
    #[arg(long, help_heading = "Admin")]
    pub check_config: bool,
}

/// How to reach NATS. Its `Debug` output hides the password, so logging the config is safe.
#[derive(Clone, clap::Args)]
#[command(next_help_heading = "NATS")]
pub struct NatsConfig {
    /// NATS server URL; several may be given separated by commas, for failover within a cluster.
    #[arg(
        id = "nats_url",
        long = "nats-url",
        value_name = "URL",
        env = "BILIPULSE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub url: String,

    /// NATS credentials file (JWT + nkey seed, `.creds` format).
    #[arg(
        id = "nats_creds",
        long = "nats-creds",
        env = "BILIPULSE_NATS_CREDS",
        value_name = "FILE",
        conflicts_with = "nats_user"
    )]
    pub creds: Option<PathBuf>,

    /// NATS user name (with --nats-password).
    #[arg(
        id = "nats_user",
        long = "nats-user",
        value_name = "USER",
        env = "BILIPULSE_NATS_USER",
        requires = "nats_password"
    )]
    pub user: Option<String>,

    /// NATS password (with --nats-user).
    #[arg(
        id = "nats_password",
        long = "nats-password",
        value_name = "PASSWORD",
        env = "BILIPULSE_NATS_PASSWORD",
        requires = "nats_user",
        hide_env_values = true
    )]
    pub password: Option<String>,

    /// Attempts at the initial connection before giving up, spaced by a jittered exponential
    /// backoff (each wait drawn up to a ceiling of 0.5 s doubling to 8 s: about 30 s in all for
    /// the default, at most a minute).
    #[arg(
        id = "nats_connect_attempts",
        long = "nats-connect-attempts",
        value_name = "N",
        env = "BILIPULSE_NATS_CONNECT_ATTEMPTS",
        default_value_t = DEFAULT_CONNECT_ATTEMPTS,
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    pub connect_attempts: u32,

    /// Spacing of initial connection attempts and of reconnects. Not a flag: the default suits
    /// services; tests shorten it.
    #[arg(skip = default_connect_backoff())]
    pub connect_backoff: Backoff,
}

impl NatsConfig {
    /// Configuration for `url` with no credentials and the default retry policy.
    pub fn new(url: impl Into<String>) -> NatsConfig {
        NatsConfig {
            url: url.into(),
            creds: None,
            user: None,
            password: None,
            connect_attempts: DEFAULT_CONNECT_ATTEMPTS,
            connect_backoff: default_connect_backoff(),
        }
    }
}

impl std::fmt::Debug for NatsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsConfig")
            .field("url", &self.url)
            .field("creds", &self.creds)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("connect_attempts", &self.connect_attempts)
            .field("connect_backoff", &self.connect_backoff)
            .finish()
    }
}

/// Initial connection attempts unless configured.
pub const DEFAULT_CONNECT_ATTEMPTS: u32 = 10;

fn default_connect_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(500), Duration::from_secs(8), 2.0)
        .expect("constant backoff is valid")
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Logging flags.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Logging")]
pub struct LogConfig {
    /// Log line format.
    #[arg(
        id = "log_format",
        value_name = "FORMAT",
        long = "log-format",
        env = "BILIPULSE_LOG_FORMAT",
        value_enum,
        default_value = "human"
    )]
    pub format: LogFormat,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `info,bilipulse_bilibili=debug`.
    #[arg(
        id = "log",
        long = "log",
        value_name = "FILTER",
        env = "BILIPULSE_LOG",
        default_value = "info"
    )]
    pub filter: String,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            format: LogFormat::Human,
            filter: "info".into(),
        }
    }
}

/// Deployment choices for the bus streams: retention per stream and replication. Everything else
/// about a stream is fixed by `bilipulse_proto::streams`.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
#[command(next_help_heading = "Streams")]
pub struct StreamOverrides {
    /// Retention of BILI_EVENTS, e.g. 7d, 24h, 1h30m [default: the bus contract's].
    #[arg(long, env = "BILIPULSE_EVENTS_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub events_max_age: Option<Duration>,

    /// Retention of BILI_RAW [default: the bus contract's].
    #[arg(long, env = "BILIPULSE_RAW_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub raw_max_age: Option<Duration>,

    /// Retention of BILI_STATUS [default: the bus contract's].
    #[arg(long, env = "BILIPULSE_STATUS_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub status_max_age: Option<Duration>,

    /// Retention of BILI_SUMMARY [default: the bus contract's].
    #[arg(long, env = "BILIPULSE_SUMMARY_MAX_AGE", value_name = "DURATION", value_parser = parse_duration)]
    pub summary_max_age: Option<Duration>,

    /// Replicas of every stream and KV bucket (1 for a single server, 3 for a 3-node cluster);
    /// default 1.
    #[arg(
        long,
        env = "BILIPULSE_STREAM_REPLICAS",
        value_name = "N",
        value_parser = clap::value_parser!(u8).range(1..=5)
    )]
    pub stream_replicas: Option<u8>,
}

impl StreamOverrides {
    /// The retention override for the stream named `stream`, if any.
    pub fn max_age_for(&self, stream: &str) -> Option<Duration> {
        use bilipulse_proto::streams::{EVENTS, RAW, STATUS, SUMMARY};
        match stream {
            s if s == EVENTS.name => self.events_max_age,
            s if s == RAW.name => self.raw_max_age,
            s if s == STATUS.name => self.status_max_age,
            s if s == SUMMARY.name => self.summary_max_age,
            _ => None,
        }
    }

    /// Replicas for every stream and bucket (1 unless overridden).
    pub fn replicas(&self) -> usize {
        usize::from(self.stream_replicas.unwrap_or(1))
    }
}

/// Why a duration flag was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// Empty input.
    #[error("empty duration")]
    Empty,
    /// A number without a unit, or an unknown unit.
    #[error("{0:?} is not a duration like 7d, 24h, 90m, 30s or 1h30m (units d, h, m, s, ms)")]
    Malformed(String),
    /// Zero, which would mean "forever" to NATS: say so explicitly instead.
    #[error("duration must be greater than zero")]
    Zero,
    /// Larger than any sensible retention.
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}

/// A replica's id: `explicit` (its `--id` flag), else `POD_NAME`, else `HOSTNAME`, else
/// `<service>-<process id>`. Stable across restarts of the same pod, unique among replicas,
/// the key of its membership record; one rule for every service.
pub fn replica_id(explicit: Option<&str>, service: &str) -> String {
    explicit
        .map(str::to_owned)
        .or_else(|| std::env::var("POD_NAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{service}-{}", std::process::id()))
}

/// Parses a duration such as `7d`, `24h`, `1h30m`, `90s` or `250ms` (humantime's syntax),
/// refusing zero, which NATS would read as "forever".
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let d = parse_duration_or_zero(s)?;
    if d.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(d)
}

/// [`parse_duration`] for settings where zero means "off" (`0s`).
pub fn parse_duration_or_zero(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let d = humantime::parse_duration(s).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => DurationError::TooLarge(s.to_owned()),
        _ => DurationError::Malformed(s.to_owned()),
    })?;
    Ok(d)
}

/// Parses `args` (program name first) into any clap parser, reading environment fallbacks from
/// `env` instead of the process environment.
///
/// A variable found in `env` acts exactly as if its flag had been given (so it satisfies
/// `requires` like a real variable does) unless the flag itself is in `args`, which then wins.
/// Only the top-level command's variables are emulated; subcommands ignore variables entirely.
/// Services use it to unit-test their flattened CLIs.
pub fn try_parse_from<P, I, T>(args: I, env: &[(&str, &str)]) -> Result<P, clap::Error>
where
    P: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut argv: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut from_env: Vec<OsString> = Vec::new();
    let cmd = P::command().mut_args(|arg| {
        let var = arg.get_env().map(|v| v.to_os_string());
        if let (Some(var), Some(long)) = (var, arg.get_long()) {
            let value = env.iter().find(|(k, _)| var == *k).map(|(_, v)| *v);
            if let Some(value) = value.filter(|_| !flag_given(&argv, long)) {
                if arg.get_action().takes_values() {
                    from_env.push(format!("--{long}={value}").into());
                } else if !matches!(value, "" | "0" | "false" | "no" | "off") {
                    from_env.push(format!("--{long}").into());
                }
            }
        }
        arg.env(None)
    });
    let mut cmd = strip_env(cmd);
    let at = argv.len().min(1);
    argv.splice(at..at, from_env);
    let matches = cmd.try_get_matches_from_mut(argv)?;
    P::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

/// True when `--long` or `--long=…` appears before any `--` terminator.
fn flag_given(argv: &[OsString], long: &str) -> bool {
    let flag = format!("--{long}");
    let with_value = format!("--{long}=");
    argv.iter()
        .skip(1)
        .filter_map(|a| a.to_str())
        .take_while(|a| *a != "--")
        .any(|a| a == flag || a.starts_with(&with_value))
}

/// Removes every environment lookup from the subcommands, so the process environment never
/// leaks into a test.
fn strip_env(cmd: Command) -> Command {
    cmd.mut_subcommands(|sub| strip_env(sub.mut_args(|a| a.env(None))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(name = "svc")]
    struct Cli {
        #[command(flatten)]
        rt: Args,
    }

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Args, clap::Error> {
        let argv = std::iter::once("svc").chain(args.iter().copied());
        try_parse_from::<Cli, _, _>(argv, env).map(|c| c.rt)
    }

    #[test]
    fn defaults_need_no_flags_and_no_environment() {
        let a = parse(&[], &[]).unwrap();
        assert_eq!(a.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(a.admin_addr, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(a.log.format, LogFormat::Human);
        assert_eq!(a.log.filter, "info");
        assert_eq!(a.streams, StreamOverrides::default());
        assert_eq!(a.streams.replicas(), 1);
        assert!(a.nats.creds.is_none() && a.nats.user.is_none());
    }

    #[test]
    fn environment_fills_in_and_flags_win() {
        let env = [
            ("BILIPULSE_NATS_URL", "nats://10.0.0.1:4222"),
            ("BILIPULSE_LOG_FORMAT", "json"),
            ("BILIPULSE_LOG", "debug"),
            ("BILIPULSE_EVENTS_MAX_AGE", "2d"),
            ("BILIPULSE_ADMIN_ADDR", "0.0.0.0:9100"),
        ];
        let a = parse(&[], &env).unwrap();
        assert_eq!(a.nats.url, "nats://10.0.0.1:4222");
        assert_eq!(a.log.format, LogFormat::Json);
        assert_eq!(a.log.filter, "debug");
        assert_eq!(
            a.streams.events_max_age,
            Some(Duration::from_secs(2 * 86_400))
        );
        assert_eq!(a.admin_addr.port(), 9100);

        let a = parse(
            &["--nats-url", "nats://127.0.0.1:1", "--log-format", "human"],
            &env,
        )
        .unwrap();
        assert_eq!(a.nats.url, "nats://127.0.0.1:1");
        assert_eq!(a.log.format, LogFormat::Human);
    }

    #[test]
    fn retention_overrides_map_to_their_streams() {
        let a = parse(
            &[
                "--raw-max-age",
                "12h",
                "--summary-max-age",
                "90d",
                "--stream-replicas",
                "3",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            a.streams.max_age_for("BILI_RAW"),
            Some(Duration::from_secs(12 * 3600))
        );
        assert_eq!(
            a.streams.max_age_for("BILI_SUMMARY"),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(a.streams.max_age_for("BILI_EVENTS"), None);
        assert_eq!(a.streams.replicas(), 3);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_named() {
        let e = parse(&["--events-max-age", "seven days"], &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("--events-max-age"), "{e}");
        assert!(parse(&["--stream-replicas", "0"], &[]).is_err());
        assert!(parse(&["--admin-addr", "nowhere"], &[]).is_err());
        assert!(parse(&["--log-format", "xml"], &[]).is_err());
        assert!(parse(&["--nats-connect-attempts", "0"], &[]).is_err());
        // A password without a user is a mistake, not something to ignore.
        assert!(parse(&["--nats-password", "p"], &[]).is_err());
        assert!(
            parse(
                &[
                    "--nats-creds",
                    "/x.creds",
                    "--nats-user",
                    "u",
                    "--nats-password",
                    "p"
                ],
                &[]
            )
            .is_err()
        );
        let a = parse(
            &["--nats-user", "u"],
            &[("BILIPULSE_NATS_PASSWORD", "s3cret")],
        )
        .unwrap();
        assert_eq!(a.nats.password.as_deref(), Some("s3cret"));
        assert!(
            !format!("{a:?}").contains("s3cret"),
            "Debug must not print the password"
        );
    }

    #[test]
    fn every_flag_is_documented_with_its_variable() {
        let help = Cli::command().render_long_help().to_string();
        for (flag, var) in [
            ("--nats-url", "BILIPULSE_NATS_URL"),
            ("--nats-creds", "BILIPULSE_NATS_CREDS"),
            ("--nats-user", "BILIPULSE_NATS_USER"),
            ("--nats-password", "BILIPULSE_NATS_PASSWORD"),
            ("--nats-connect-attempts", "BILIPULSE_NATS_CONNECT_ATTEMPTS"),
            ("--admin-addr", "BILIPULSE_ADMIN_ADDR"),
            ("--log-format", "BILIPULSE_LOG_FORMAT"),
            ("--log ", "BILIPULSE_LOG="),
            ("--events-max-age", "BILIPULSE_EVENTS_MAX_AGE"),
            ("--raw-max-age", "BILIPULSE_RAW_MAX_AGE"),
            ("--status-max-age", "BILIPULSE_STATUS_MAX_AGE"),
            ("--summary-max-age", "BILIPULSE_SUMMARY_MAX_AGE"),
            ("--stream-replicas", "BILIPULSE_STREAM_REPLICAS"),
        ] {
            assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
            assert!(help.contains(var), "{var} missing from --help:\n{help}");
        }
        for arg in Cli::command().get_arguments() {
            let documented = arg
                .get_help()
                .is_some_and(|h| !h.to_string().trim().is_empty());
            assert!(
                documented || arg.get_id() == "help",
                "{} has no help text",
                arg.get_id()
            );
        }
    }

    #[test]
    fn durations_parse_with_units() {
        let secs = |s| parse_duration(s).map(|d| d.as_millis());
        assert_eq!(secs("7d"), Ok(7 * 86_400_000));
        assert_eq!(secs("24h"), Ok(86_400_000));
        assert_eq!(secs("1h30m"), Ok(5_400_000));
        assert_eq!(secs("90s"), Ok(90_000));
        assert_eq!(secs("250ms"), Ok(250));
        assert_eq!(secs(" 2m "), Ok(120_000));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(parse_duration("0s"), Err(DurationError::Zero));
        assert_eq!(secs("1w"), Ok(7 * 86_400_000));
        for bad in ["7", "d", "-1h", "7x", "h7", "1h30"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Malformed(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_duration("99999999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse_duration("999999999999999d"),
            Err(DurationError::TooLarge(_))
        ));
    }
}
