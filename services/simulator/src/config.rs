//! Simulator configuration: one struct that is both the in-process config of tests and the
//! command line of `bilipulse-sim` (every flag has a `BILIPULSE_SIM_*` environment fallback).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The image/sub WBI keys Bilibili published in the spec's test vector; the default so that a
/// fresh simulator signs like the documentation.
pub const DEFAULT_IMG_KEY: &str = "7cd084941338484aae1ad9425b84077c";
/// See [`DEFAULT_IMG_KEY`].
pub const DEFAULT_SUB_KEY: &str = "4932caff0ff746eab6f01bf08b70ac45";

/// Everything the simulator can be told. Build it with clap (the binary), with
/// [`SimConfig::for_tests`], or by hand.
#[derive(Debug, Clone, clap::Args)]
pub struct SimConfig {
    /// Address of the single HTTP + WebSocket listener (port 0 = any free port).
    #[arg(long, env = "BILIPULSE_SIM_LISTEN", default_value = "127.0.0.1:9400")]
    pub listen: SocketAddr,

    /// Host name advertised in getDanmuInfo's host_list (default: the listen IP, or 127.0.0.1
    /// when listening on an unspecified address). Set it to the service name in a cluster.
    #[arg(long, env = "BILIPULSE_SIM_PUBLIC_HOST")]
    pub public_host: Option<String>,

    /// Explicit rooms: `room[/short]:profile[:rate]`, comma separated; profile is one of busy,
    /// normal, quiet, sessions; rate is commands per second.
    #[arg(
        long,
        env = "BILIPULSE_SIM_ROOMS",
        value_delimiter = ',',
        default_value = "5269:busy,865138:normal"
    )]
    pub rooms: Vec<RoomSpec>,

    /// Number of additional rooms with generated ids, profiles and rates.
    #[arg(long, env = "BILIPULSE_SIM_RANDOM_ROOMS", default_value_t = 0)]
    pub random_rooms: u32,

    /// Total commands per second shared (heavy-tailed) among the random rooms.
    #[arg(long, env = "BILIPULSE_SIM_TOTAL_RATE", default_value_t = 1000.0)]
    pub total_rate: f64,

    /// Seed of every random choice: the same seed gives the same command sequence per room.
    #[arg(long, env = "BILIPULSE_SIM_SEED", default_value_t = 1)]
    pub seed: u64,

    /// Where to append the ground-truth JSONL log (none = in memory only).
    #[arg(long, env = "BILIPULSE_SIM_TRUTH_LOG")]
    pub truth_log: Option<PathBuf>,

    /// How many truth entries (events and connection records) to keep in memory; counts are
    /// always complete.
    #[arg(long, env = "BILIPULSE_SIM_TRUTH_CAPACITY", default_value_t = 100_000)]
    pub truth_capacity: usize,

    /// Compression used when the auth packet has no (or an unknown) `protover`:
    /// 3 brotli, 2 zlib, 0 none.
    #[arg(long = "protover", env = "BILIPULSE_SIM_PROTOVER", default_value_t = 0)]
    pub default_protover: u16,

    /// Logged-in accounts as `SESSDATA=uid[:name]`, comma separated. A getDanmuInfo call with
    /// such a SESSDATA cookie issues a token for that uid; its connections see real identities.
    #[arg(long, env = "BILIPULSE_SIM_ACCOUNTS", value_delimiter = ',')]
    pub accounts: Vec<Account>,

    /// A WebSocket must authenticate within this many milliseconds.
    #[arg(long, env = "BILIPULSE_SIM_AUTH_TIMEOUT_MS", default_value_t = 5_000)]
    pub auth_timeout_ms: u64,

    /// A WebSocket without a heartbeat for this many milliseconds is closed.
    #[arg(
        long,
        env = "BILIPULSE_SIM_HEARTBEAT_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub heartbeat_timeout_ms: u64,

    /// Traffic is generated and sent in ticks of this many milliseconds.
    #[arg(long, env = "BILIPULSE_SIM_TICK_MS", default_value_t = 50)]
    pub tick_ms: u64,

    /// Initial WBI img_key (32 hex).
    #[arg(long, env = "BILIPULSE_SIM_WBI_IMG_KEY", default_value = DEFAULT_IMG_KEY)]
    pub wbi_img_key: String,

    /// Initial WBI sub_key (32 hex).
    #[arg(long, env = "BILIPULSE_SIM_WBI_SUB_KEY", default_value = DEFAULT_SUB_KEY)]
    pub wbi_sub_key: String,

    /// Rotate the WBI keys every this many seconds (Bilibili rotates daily); none = never.
    #[arg(long, env = "BILIPULSE_SIM_WBI_ROTATE_SECS")]
    pub wbi_rotate_secs: Option<u64>,

    /// Accepted distance of a request's `wts` from the simulator's clock, seconds.
    #[arg(long, env = "BILIPULSE_SIM_WTS_TOLERANCE_SECS", default_value_t = 300)]
    pub wts_tolerance_secs: u64,

    /// Threads that render and compress traffic (the traffic thread is one of them).
    #[arg(long, env = "BILIPULSE_SIM_WORKERS", default_value_t = 2)]
    pub workers: usize,

    /// Brotli quality (0–11) of protover-3 containers. Low by default: per-container encoder
    /// setup dominates at higher qualities and caps the command rate.
    #[arg(long, env = "BILIPULSE_SIM_BROTLI_QUALITY", default_value_t = 1)]
    pub brotli_quality: u32,

    /// zlib level (0–9) of protover-2 containers.
    #[arg(long, env = "BILIPULSE_SIM_ZLIB_LEVEL", default_value_t = 1)]
    pub zlib_level: u32,

    /// Mean length of a broadcast in the `sessions` profile, seconds.
    #[arg(long, env = "BILIPULSE_SIM_SESSION_LIVE_SECS", default_value_t = 600)]
    pub session_live_secs: u64,

    /// Mean offline time between broadcasts in the `sessions` profile, seconds.
    #[arg(
        long,
        env = "BILIPULSE_SIM_SESSION_OFFLINE_SECS",
        default_value_t = 120
    )]
    pub session_offline_secs: u64,

    /// Accept auth packets without a token or buvid (degraded anonymous mode, as Bilibili does
    /// for blivedm's fallback); by default both are required.
    #[arg(long, env = "BILIPULSE_SIM_LENIENT_AUTH")]
    pub lenient_auth: bool,

    /// Outgoing frames buffered per connection before it is dropped as a slow consumer.
    #[arg(long, env = "BILIPULSE_SIM_CONN_QUEUE", default_value_t = 4096)]
    pub conn_queue: usize,

    /// Start with traffic paused (resume through the handle or POST /admin/traffic).
    #[arg(long, env = "BILIPULSE_SIM_START_PAUSED")]
    pub start_paused: bool,

    /// Fault at start: the first N WebSocket auths are refused with code -101.
    #[arg(long, env = "BILIPULSE_SIM_FAULT_REFUSE_AUTH", default_value_t = 0)]
    pub fault_refuse_auth: u32,

    /// Fault at start: the first N getDanmuInfo calls answer -352.
    #[arg(long, env = "BILIPULSE_SIM_FAULT_RISK_CONTROL", default_value_t = 0)]
    pub fault_risk_control: u32,

    /// Chaos: drop one random authenticated connection every this many seconds.
    #[arg(long, env = "BILIPULSE_SIM_CHAOS_DROP_SECS")]
    pub chaos_drop_secs: Option<u64>,

    /// Chaos: send one malformed frame to a random room every this many seconds.
    #[arg(long, env = "BILIPULSE_SIM_CHAOS_MALFORMED_SECS")]
    pub chaos_malformed_secs: Option<u64>,

    /// Load mode (recorded commands instead of generated traffic).
    #[command(flatten)]
    pub replay: ReplayConfig,
}

/// Load mode: every authenticated connection is sent real, recorded command bodies instead of
/// its room's generated traffic, packed into frames and compressed once at start, so that the
/// simulator costs next to nothing per command and a client's decoder is what gets measured.
/// Nothing of it enters the truth log (the commands are not the room's events).
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ReplayConfig {
    /// Load mode's recordings: a Bilibili fixtures directory (`messages/<CMD>/*.json` and
    /// `messages-sanitized/<CMD>/*.json`, one command body per file). Every body is used once,
    /// `DANMU_MSG` eight times (roughly a live room's mix), in an order shuffled by `--seed`;
    /// `LOG_IN_NOTICE` is left out. Unset: normal traffic.
    #[arg(long = "replay", env = "BILIPULSE_SIM_REPLAY", value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,

    /// Commands per frame in load mode (Bilibili batches up to about 20 in busy rooms).
    #[arg(
        long = "replay-per-frame",
        env = "BILIPULSE_SIM_REPLAY_PER_FRAME",
        default_value_t = DEFAULT_REPLAY_PER_FRAME,
        value_parser = clap::value_parser!(u32).range(1..=1000)
    )]
    pub per_frame: u32,

    /// Frames sent to each connection in load mode; afterwards it stays open and quiet
    /// (heartbeats are still answered). 0: no end.
    #[arg(
        long = "replay-frames",
        env = "BILIPULSE_SIM_REPLAY_FRAMES",
        default_value_t = 0
    )]
    pub frames: u64,

    /// Frames per second to each connection in load mode; 0: flood (as fast as the client
    /// reads).
    #[arg(
        long = "replay-rate",
        env = "BILIPULSE_SIM_REPLAY_RATE",
        default_value_t = 0.0
    )]
    pub rate: f64,

    /// Load mode with fresh ids and times: this many distinct frames are prepared at start,
    /// every recorded body in them restamped (its ids replaced by a sequence number, its times
    /// by the time it is due: the start plus the frame's place at `--replay-rate`), and sent in
    /// a cycle, so ids repeat only after this many frames per connection. For feeding a whole
    /// pipeline (deduplication, event-time windows), where recorded ids would all be repeats.
    /// Cost per frame of 20 commands: ≈ 50 KiB of memory (all three encodings) and ≈ 10 ms of
    /// one core at start (brotli quality 6, spread over all cores). 0: the recordings as they
    /// are.
    #[arg(
        long = "replay-fresh",
        env = "BILIPULSE_SIM_REPLAY_FRESH",
        default_value_t = 0,
        value_name = "FRAMES"
    )]
    pub fresh_frames: u64,
}

/// Commands per load-mode frame unless `--replay-per-frame` says otherwise.
pub const DEFAULT_REPLAY_PER_FRAME: u32 = 20;

impl Default for ReplayConfig {
    fn default() -> ReplayConfig {
        ReplayConfig {
            dir: None,
            per_frame: DEFAULT_REPLAY_PER_FRAME,
            frames: 0,
            rate: 0.0,
            fresh_frames: 0,
        }
    }
}

impl SimConfig {
    /// A configuration for tests: an ephemeral port on 127.0.0.1, the given rooms only, seed
    /// 42, short timers (auth 2 s, heartbeat timeout 5 s, sessions 5 s live / 2 s offline,
    /// 20 ms ticks) and no truth file.
    pub fn for_tests(rooms: &[RoomSpec]) -> SimConfig {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_host: None,
            rooms: rooms.to_vec(),
            random_rooms: 0,
            total_rate: 0.0,
            seed: 42,
            truth_log: None,
            truth_capacity: 200_000,
            default_protover: 0,
            accounts: Vec::new(),
            auth_timeout_ms: 2_000,
            heartbeat_timeout_ms: 5_000,
            tick_ms: 20,
            wbi_img_key: DEFAULT_IMG_KEY.to_owned(),
            wbi_sub_key: DEFAULT_SUB_KEY.to_owned(),
            wbi_rotate_secs: None,
            wts_tolerance_secs: 300,
            workers: 1,
            brotli_quality: 1,
            zlib_level: 1,
            session_live_secs: 5,
            session_offline_secs: 2,
            lenient_auth: false,
            conn_queue: 4096,
            start_paused: false,
            fault_refuse_auth: 0,
            fault_risk_control: 0,
            chaos_drop_secs: None,
            chaos_malformed_secs: None,
            replay: ReplayConfig::default(),
        }
    }

    /// The auth deadline as a duration.
    pub fn auth_timeout(&self) -> Duration {
        Duration::from_millis(self.auth_timeout_ms)
    }

    /// The heartbeat timeout as a duration.
    pub fn heartbeat_timeout(&self) -> Duration {
        Duration::from_millis(self.heartbeat_timeout_ms)
    }
}

/// A traffic profile: how busy a room is and how its broadcast behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A top room: hundreds of commands per second, a large chatter population, frequent hype.
    Busy,
    /// An ordinary live room.
    Normal,
    /// A small room: a command every few seconds.
    Quiet,
    /// Goes live and offline in turn (LIVE ×2 … PREPARING …), with little traffic while offline.
    Sessions,
}

impl Profile {
    /// Commands per second when a [`RoomSpec`] gives no rate.
    pub fn default_rate(self) -> f64 {
        match self {
            Profile::Busy => 200.0,
            Profile::Normal => 20.0,
            Profile::Quiet => 0.5,
            Profile::Sessions => 20.0,
        }
    }

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Busy => "busy",
            Profile::Normal => "normal",
            Profile::Quiet => "quiet",
            Profile::Sessions => "sessions",
        }
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "busy" => Ok(Profile::Busy),
            "normal" => Ok(Profile::Normal),
            "quiet" => Ok(Profile::Quiet),
            "sessions" | "session" => Ok(Profile::Sessions),
            other => Err(format!(
                "unknown profile {other:?} (busy, normal, quiet, sessions)"
            )),
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One explicitly configured room.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomSpec {
    /// Real (long) room id.
    pub room: u64,
    /// Short id that `room_init`/`get_info` also resolve, if any.
    pub short_id: Option<u64>,
    /// Traffic profile.
    pub profile: Profile,
    /// Commands per second of the main traffic mix (periodic audience commands come on top).
    pub rate: f64,
}

impl RoomSpec {
    /// A room with the profile's default rate and no short id.
    pub fn new(room: u64, profile: Profile) -> RoomSpec {
        RoomSpec {
            room,
            short_id: None,
            profile,
            rate: profile.default_rate(),
        }
    }

    /// The same room with another rate.
    pub fn with_rate(mut self, rate: f64) -> RoomSpec {
        self.rate = rate;
        self
    }

    /// The same room with a short id.
    pub fn with_short_id(mut self, short_id: u64) -> RoomSpec {
        self.short_id = Some(short_id);
        self
    }
}

impl FromStr for RoomSpec {
    type Err = String;
    /// `room[/short]:profile[:rate]`, e.g. `5269:busy`, `14073662/76:normal:35`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.trim().split(':');
        let ids = parts.next().unwrap_or_default();
        let (room, short_id) = match ids.split_once('/') {
            Some((r, sh)) => (r, Some(sh)),
            None => (ids, None),
        };
        let room: u64 = room.parse().map_err(|_| format!("bad room id in {s:?}"))?;
        if room == 0 {
            return Err(format!("room id 0 in {s:?}"));
        }
        let short_id = short_id
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("bad short id in {s:?}"))
            })
            .transpose()?;
        let profile: Profile = parts.next().unwrap_or("normal").parse()?;
        let rate = match parts.next() {
            Some(r) => r
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| format!("bad rate in {s:?}"))?,
            None => profile.default_rate(),
        };
        if parts.next().is_some() {
            return Err(format!("too many ':' in {s:?}"));
        }
        Ok(RoomSpec {
            room,
            short_id,
            profile,
            rate,
        })
    }
}

/// A logged-in account the simulator recognises by its SESSDATA cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The SESSDATA cookie value, compared byte for byte.
    pub sessdata: String,
    /// The account's uid (mid).
    pub uid: u64,
    /// The account's name (nav's `uname`).
    pub uname: String,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A cookie is a credential even in a simulator: never print it.
        f.debug_struct("Account")
            .field("sessdata", &"<redacted>")
            .field("uid", &self.uid)
            .field("uname", &self.uname)
            .finish()
    }
}

impl FromStr for Account {
    type Err = String;
    /// `SESSDATA=uid[:name]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (sess, rest) = s
            .trim()
            .rsplit_once('=')
            .ok_or_else(|| "account must be SESSDATA=uid[:name]".to_owned())?;
        let (uid, uname) = match rest.split_once(':') {
            Some((u, n)) => (u, n.to_owned()),
            None => (rest, format!("sim_user_{rest}")),
        };
        let uid: u64 = uid
            .parse()
            .ok()
            .filter(|u| *u != 0)
            .ok_or_else(|| "account uid must be a non-zero integer".to_owned())?;
        if sess.is_empty() {
            return Err("empty SESSDATA".to_owned());
        }
        Ok(Account {
            sessdata: sess.to_owned(),
            uid,
            uname,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_specs_parse() {
        let r: RoomSpec = "14073662/76:busy:350".parse().unwrap();
        assert_eq!(
            (r.room, r.short_id, r.profile, r.rate),
            (14073662, Some(76), Profile::Busy, 350.0)
        );
        let r: RoomSpec = "5269:quiet".parse().unwrap();
        assert_eq!(r.rate, Profile::Quiet.default_rate());
        assert!("x:busy".parse::<RoomSpec>().is_err());
        assert!("1:loud".parse::<RoomSpec>().is_err());
        assert!("1:busy:-3".parse::<RoomSpec>().is_err());
    }

    #[test]
    fn accounts_parse_and_redact() {
        let a: Account = "abc%2C123=42:tester".parse().unwrap();
        assert_eq!((a.uid, a.uname.as_str()), (42, "tester"));
        assert!(!format!("{a:?}").contains("abc"));
        assert!("abc=0".parse::<Account>().is_err());
    }
}
