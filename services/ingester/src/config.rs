//! The ingester's configuration: flags with `BILIPULSE_*` environment fallbacks.

use std::time::Duration;

use bilipulse_bilibili::config::BilibiliArgs;
use bilipulse_runtime::config::{Args, parse_duration};
use clap::Parser;

/// `bilipulse-ingester`: observes Bilibili live rooms and publishes their events to NATS.
///
/// Rooms come from the `bili_rooms` KV bucket (see `bilipulse rooms add`); replicas share them by
/// rendezvous hashing over the live members in `bili_members`.
#[derive(Debug, Clone, Parser)]
#[command(name = "bilipulse-ingester", version)]
pub struct Config {
    /// Runtime flags shared by every service.
    #[command(flatten)]
    pub runtime: Args,

    /// This ingester's id: unique among replicas, stable across restarts of the same pod.
    /// Defaults to POD_NAME, then HOSTNAME.
    #[arg(long, env = "BILIPULSE_INGESTER_ID")]
    pub id: Option<String>,

    /// How to reach Bilibili (or the simulator).
    #[command(flatten)]
    pub bilibili: BilibiliArgs,

    /// Most rooms this ingester connects to; rooms beyond every replica's capacity are
    /// reported as unplaced.
    #[arg(
        long,
        env = "BILIPULSE_MAX_ROOMS",
        default_value_t = 1000,
        help_heading = "Ingester"
    )]
    pub max_rooms: u32,

    /// Bound of the publish buffer that absorbs NATS outages, in MiB. Past it new events are
    /// dropped and counted (status `events_lost`, metric `dropped`).
    #[arg(
        long,
        env = "BILIPULSE_BUFFER_MIB",
        default_value_t = 256,
        help_heading = "Ingester"
    )]
    pub buffer_mib: usize,

    /// Load shedding: once the publish buffer holds more than this percentage of its bound,
    /// whole Bilibili frames are dropped before their commands are normalised, and counted
    /// per room (status `commands_shed`, metric `shed_commands`). Normalising what cannot be
    /// published would take the CPU that publishing needs, so that under overload the stored
    /// rate collapses instead of staying at capacity. A shed frame is not archived either
    /// (its raw frame would cost JetStream what shedding saves). 100 disables shedding (new
    /// events are then dropped one by one once the buffer is full).
    #[arg(
        long,
        env = "BILIPULSE_SHED_ABOVE_PERCENT",
        default_value_t = 90,
        value_parser = clap::value_parser!(u8).range(1..=100),
        help_heading = "Ingester"
    )]
    pub shed_above_percent: u8,

    /// Publishes awaiting their JetStream ack at once.
    #[arg(
        long,
        env = "BILIPULSE_MAX_INFLIGHT",
        default_value_t = 2048,
        help_heading = "Ingester"
    )]
    pub max_inflight: usize,

    /// How often each room's status is published when nothing changes.
    #[arg(long, env = "BILIPULSE_STATUS_INTERVAL", default_value = "5s", value_parser = parse_duration, help_heading = "Ingester")]
    pub status_interval: Duration,

    /// TTL of this ingester's membership key; a crashed ingester's rooms move after it.
    /// Whole seconds (NATS per-message TTLs are).
    /// Default: the contract's TTL for the bucket (`bilipulse_proto::streams::MEMBERS.key_ttl`, 6s).
    #[arg(long, env = "BILIPULSE_MEMBER_TTL", value_parser = parse_duration, help_heading = "Ingester")]
    pub member_ttl: Option<Duration>,

    /// Longest a room keeps running here after moving elsewhere, if the new owner does not
    /// report connected sooner; also bounds the hand-over at shutdown.
    #[arg(long, env = "BILIPULSE_HANDOVER_TIMEOUT", default_value = "15s", value_parser = parse_duration, help_heading = "Ingester")]
    pub handover_timeout: Duration,

    /// How long a handed-over room keeps running here after its new owner reported connected,
    /// so that what Bilibili sent to the old connection just before the new one was in place
    /// is still read. JetStream drops the overlap's duplicates.
    #[arg(long, env = "BILIPULSE_HANDOVER_OVERLAP", default_value = "2s", value_parser = parse_duration, help_heading = "Ingester")]
    pub handover_overlap: Duration,

    /// Fraction of events traced end to end, 0 to 1 (0 disables). A sampled event gets an
    /// `ingest.event` span and carries its W3C `traceparent` in its NATS headers, so the
    /// windower's `window.close` and the gateway's `gateway.fanout` continue the same trace.
    /// Only has an effect while traces are exported (OTEL_EXPORTER_OTLP_ENDPOINT or
    /// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set); unsampled events carry no header and cost no span.
    #[arg(
        long,
        env = "BILIPULSE_TRACE_SAMPLE_RATIO",
        default_value_t = 0.001,
        value_parser = parse_ratio,
        help_heading = "Ingester"
    )]
    pub trace_sample_ratio: f64,

    /// Where the raw command bodies go, kept for re-parsing (`bilipulse reparse`): `frames`,
    /// one message per Bilibili frame on `bili.rawframe.<room>` (about one stored message per
    /// frame instead of one per command); `commands`, one message per command body on
    /// `bili.raw.<room>` (the layout before frames, exactly once per body across a hand-over);
    /// `off`, not kept at all (events only; nothing to re-parse from).
    #[arg(
        long,
        env = "BILIPULSE_RAW_STORAGE",
        value_enum,
        default_value_t = RawStorage::Frames,
        help_heading = "Ingester"
    )]
    pub raw_storage: RawStorage,
}

/// How raw command bodies are stored (`--raw-storage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RawStorage {
    /// One `RawFrame` (bilipulse_proto) per frame on `bili.rawframe.<room>`.
    Frames,
    /// One body per message on `bili.raw.<room>`.
    Commands,
    /// Not stored.
    Off,
}

/// Parses a fraction in `[0, 1]`; anything else (NaN, negative, above 1) is a flag error
/// rather than a silently clamped value.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a number: {e}"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s:?} is not a fraction between 0 and 1"))
    }
}

impl Config {
    /// The ingester id: `--id`, else POD_NAME, else HOSTNAME, else `ingester-<pid>`.
    pub fn ingester_id(&self) -> String {
        bilipulse_runtime::config::replica_id(self.id.as_deref(), "ingester")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_sample_ratio_defaults_to_one_in_a_thousand_and_must_be_a_fraction() {
        let c = Config::try_parse_from(["bilipulse-ingester"]).expect("defaults parse");
        assert_eq!(c.trace_sample_ratio, 0.001);
        let c = Config::try_parse_from(["bilipulse-ingester", "--trace-sample-ratio", "1"])
            .expect("1 parses");
        assert_eq!(c.trace_sample_ratio, 1.0);
        for bad in ["-0.1", "1.5", "NaN", "often"] {
            assert!(
                Config::try_parse_from(["bilipulse-ingester", "--trace-sample-ratio", bad])
                    .is_err(),
                "{bad} must be refused"
            );
        }
        assert_eq!(parse_ratio("0"), Ok(0.0));
    }

    #[test]
    fn raw_bodies_are_stored_by_frame_unless_told_otherwise() {
        let c = Config::try_parse_from(["bilipulse-ingester"]).expect("defaults parse");
        assert_eq!(c.raw_storage, RawStorage::Frames);
        for (flag, want) in [("commands", RawStorage::Commands), ("off", RawStorage::Off)] {
            let c = Config::try_parse_from(["bilipulse-ingester", "--raw-storage", flag]).unwrap();
            assert_eq!(c.raw_storage, want);
        }
        assert!(Config::try_parse_from(["bilipulse-ingester", "--raw-storage", "all"]).is_err());
    }
}
