//! The bilipulse ingester.
//!
//! Data flow, one module per step:
//!
//! * [`kv_mirror`]: mirrors of `bili_rooms` (what to observe) and `bili_members` (who is
//!   alive).
//! * [`membership`]: this replica's TTL'd key in `bili_members`.
//! * [`placement`](bilipulse_runtime::placement): rendezvous hashing of rooms over the live
//!   members — the same answer everywhere.
//! * [`owner`]: starts rooms assigned here, hands the others over make-before-break.
//! * [`room`]: one Bilibili connection; commands → events, coverage → status.
//! * [`publish`]: the bounded buffer and in-flight-ack window in front of JetStream.
//!
//! The first three are shared with the windower (which places key groups the same way) and live
//! in `bilipulse_runtime`; the rest are the ingester's own. [`run`] wires them together;
//! `main.rs` only parses flags and installs signal handlers, so tests run whole ingesters
//! in-process.

pub mod config;
pub mod metrics;
pub mod owner;
pub mod publish;
pub mod room;

use std::sync::Arc;
use std::time::Duration;

use bilipulse_bilibili::client::ClientConfig;
use bilipulse_proto::{Member, SCHEMA_VERSION, streams};
use bilipulse_runtime::admin::{self, Readiness};
use bilipulse_runtime::bus;
use bilipulse_runtime::clock::now_ms;
use bilipulse_runtime::kv_mirror;
use bilipulse_runtime::membership::{self, Membership, MembershipError};
use bilipulse_runtime::shutdown::Shutdown;
use bilipulse_runtime::startup;
use prometheus_client::registry::Registry;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use config::Config;

use crate::metrics::Metrics;
use crate::owner::{Owner, OwnerConfig};
use crate::publish::{PublishConfig, Publisher};
use crate::room::Shared;

/// Event ids each connection remembers to drop Bilibili's own repeats (a Super Chat and its
/// `_JPN` copy, the three messages of a guard purchase), which arrive back to back. Every room
/// pays for this set up front and keeps it full for good (idle rooms still get audience
/// counters), so it is sized for "the last half second of a busy room", not more: 8192 ids as
/// strings cost 61 KiB per idle room, 128 about 6 KiB, and 128 as hashes 1 KiB. Repeats beyond it still reach JetStream with the same
/// id and are dropped there; only core-NATS subscribers could see them twice.
const RECENT_IDS: usize = 128;

/// Why the ingester could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum IngesterError {
    /// The admin listener could not bind.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// NATS or JetStream setup failed.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// The membership key could not be written.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// The Bilibili flags do not work (cookie file, base URLs).
    #[error(transparent)]
    Bilibili(#[from] bilipulse_bilibili::config::ConfigError),
}

/// Runs an ingester until `shutdown` fires, then hands its rooms over and returns.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), IngesterError> {
    let id = config.ingester_id();
    let mut registry = Registry::with_prefix("bilipulse_ingester");
    let metrics = Metrics::register(&mut registry);
    let readiness = Readiness::new(["nats", "streams", "members"]);
    let admin = admin::Server::bind(config.runtime.admin_addr, readiness.clone(), registry).await?;
    tracing::info!(id = %id, admin = %admin.local_addr(), "ingester starting");
    let admin_task = tokio::spawn(admin.run(shutdown.clone()));

    let client = bus::connect_with_readiness(&config.runtime.nats, &id, &readiness).await?;
    let js = bus::jetstream(client.clone());
    let overrides = &config.runtime.streams;
    let (rooms_kv, members_kv) = startup::retry(
        "creating streams and buckets",
        &shutdown,
        startup::is_config_error,
        || async {
            bus::ensure_streams(&js, overrides).await?;
            let rooms = bus::ensure_bucket(&js, &streams::ROOMS, overrides).await?;
            let members = bus::ensure_bucket(&js, &streams::MEMBERS, overrides).await?;
            Ok((rooms, members))
        },
    )
    .await?;
    readiness.set_ready("streams");

    let publisher = Publisher::new(
        PublishConfig {
            buffer_bytes: config.buffer_mib.saturating_mul(1024 * 1024),
            shed_above_percent: config.shed_above_percent,
            max_inflight: config.max_inflight.max(1),
            drain_timeout: config.handover_timeout,
        },
        metrics.clone(),
        readiness.clone(),
    );
    let publish_stop = CancellationToken::new();
    let publish_task = tokio::spawn(publisher.clone().run(
        js.clone(),
        client.clone(),
        publish_stop.clone(),
    ));
    let drain_handle = publisher.clone();
    let drain_timeout = config.handover_timeout;

    let shared = Arc::new(Shared {
        id: id.clone(),
        client: client_factory(&config)?,
        publisher,
        metrics: metrics.clone(),
        status_interval: config.status_interval,
        recent_ids: RECENT_IDS,
        trace_sample_ratio: config.trace_sample_ratio,
        raw_storage: config.raw_storage,
    });

    let ttl = bilipulse_runtime::membership::key_ttl(config.member_ttl, &streams::MEMBERS);
    let me = Member {
        v: SCHEMA_VERSION,
        id: id.clone(),
        started: now_ms(),
        ts: now_ms(),
        capacity: config.max_rooms,
        draining: false,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut membership = startup::retry(
        "joining bili_members",
        &shutdown,
        |_| false,
        || Membership::join(js.clone(), members_kv.clone(), me.clone(), ttl),
    )
    .await?;

    let watches = CancellationToken::new();
    let invalid = metrics.rooms_invalid.clone();
    let rooms = kv_mirror::spawn(
        rooms_kv,
        kv_mirror::decode_room,
        move |_, _| {
            invalid.inc();
        },
        watches.clone(),
    );
    let members = kv_mirror::spawn(
        members_kv,
        kv_mirror::decode_member,
        |_, _| {},
        watches.clone(),
    );
    let (connected_tx, connected_rx) = mpsc::channel(1024);
    tokio::spawn(owner::follow_status(
        client.clone(),
        id.clone(),
        connected_tx,
        watches.clone(),
    ));
    let (draining_tx, draining_rx) = watch::channel(false);
    let owner = Owner::new(
        OwnerConfig {
            id: id.clone(),
            capacity: config.max_rooms as usize,
            handover_timeout: config.handover_timeout,
            handover_overlap: config.handover_overlap,
        },
        shared,
    );
    let mut owner_task = tokio::spawn(owner.run(rooms, members, connected_rx, draining_rx));
    readiness.set_ready("members");

    // Renew well inside the TTL so one late renewal does not cost the rooms.
    let mut renew = tokio::time::interval(membership::renew_interval(ttl));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = renew.tick() => if let Err(e) = membership.renew(false).await {
                tracing::warn!(error = %e, "membership renewal failed");
            },
        }
    }

    tracing::info!("shutting down: handing rooms over");
    if let Err(e) = membership.renew(true).await {
        tracing::warn!(error = %e, "could not announce draining; rooms move when the key expires");
    }
    let _ = draining_tx.send(true);
    loop {
        tokio::select! {
            _ = &mut owner_task => break,
            _ = renew.tick() => if let Err(e) = membership.renew(true).await {
                tracing::warn!(error = %e, "membership renewal failed");
            },
        }
    }
    membership.leave().await;
    watches.cancel();
    publish_stop.cancel();
    // The publisher keeps its own drain deadline, but a NATS client with nowhere to send can
    // hold a publish longer than that; exit must be bounded whatever NATS does.
    let mut publish_task = publish_task;
    let unpublished =
        match tokio::time::timeout(drain_timeout + Duration::from_secs(5), &mut publish_task).await
        {
            Ok(left) => left.unwrap_or(0),
            Err(_) => {
                publish_task.abort();
                drain_handle.buffered().0
            }
        };
    if unpublished > 0 {
        tracing::error!(unpublished, "messages left unpublished at exit");
    }
    let _ = admin_task.await;
    tracing::info!("ingester stopped");
    Ok(())
}

/// Builds the per-room client configuration from the flags.
fn client_factory(
    config: &Config,
) -> Result<Box<dyn Fn(u64) -> ClientConfig + Send + Sync>, IngesterError> {
    let bili = config.bilibili.clone();
    let resolver = bili.resolver()?;
    Ok(Box::new(move |room| bili.client(room, &resolver)))
}
