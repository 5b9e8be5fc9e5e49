//! The bilipulse windower: event-time windowed statistics and live sessions per room.
//!
//! Data flow, one module per step:
//!
//! * [`input`]: a `BILI_EVENTS` message → a countable [`bilipulse_proto::RoomEvent`] or a
//!   garbage cause.
//! * [`window`]: one window's totals ([`window::WindowAgg`]) → a `WindowSummary`; with
//!   [`distinct`] (exact sets becoming HyperLogLog sketches) and [`coverage`] (observed time
//!   from the ingesters' status reports).
//! * [`session`]: live sessions, with [`topk`] for the top chatters and spenders.
//! * [`room`]: a room's windows of every width, watermark, release, revision and lateness.
//! * [`group`]: a key group's rooms and stream position — the unit of state that is
//!   checkpointed and moves between replicas.
//! * [`assign`]: which key groups this replica owns (membership + rendezvous placement from
//!   the runtime crate, shared with the ingester).
//! * [`engine`]: the single task that reads the streams and holds every owned group;
//!   [`commit`] releases and checkpoints a group in one atomic, fenced [`batch`]
//!   ([`checkpoint`] has the layout and the exactly-once argument).
//!
//! [`run`] wires them together; `main.rs` only parses flags, so tests run whole windowers
//! in-process.

pub mod assign;
pub mod batch;
pub mod checkpoint;
pub mod commit;
pub mod config;
mod consumer;
pub mod coverage;
pub mod distinct;
pub mod engine;
pub mod group;
pub mod input;
pub mod metrics;
pub mod room;
pub mod session;
pub mod settings;
pub mod topk;
pub mod window;

#[cfg(test)]
mod test_support;

use bilipulse_proto::{Member, SCHEMA_VERSION, streams};
use bilipulse_runtime::admin::{self, Readiness};
use bilipulse_runtime::membership::{Membership, MembershipError};
use bilipulse_runtime::shutdown::Shutdown;
use bilipulse_runtime::{bus, clock::now_ms, kv_mirror, startup};
use prometheus_client::registry::Registry;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use consumer::ConsumerFailure;
pub use engine::EngineError;

/// Why the windower could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum WindowerError {
    /// The admin listener could not bind.
    #[error(transparent)]
    Admin(#[from] admin::AdminError),
    /// NATS or JetStream setup failed.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// The membership key could not be written.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// A stream handle could not be opened.
    #[error("cannot open stream {0}: {1}")]
    Stream(&'static str, String),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Runs a windower until `shutdown` fires, then commits every key group and leaves.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<(), WindowerError> {
    let id = config.windower_id();
    let mut registry = Registry::with_prefix("bilipulse_windower");
    let metrics = metrics::Metrics::register(&mut registry);
    let readiness = Readiness::new(["nats", "streams", "members", "key_groups"]);
    let admin = admin::Server::bind(config.runtime.admin_addr, readiness.clone(), registry).await?;
    tracing::info!(id = %id, admin = %admin.local_addr(), "windower starting");
    let admin_task = tokio::spawn(admin.run(shutdown.clone()));

    let client = bus::connect_with_readiness(&config.runtime.nats, &id, &readiness).await?;
    let js = bus::jetstream(client.clone());
    let overrides = &config.runtime.streams;
    let members_kv = startup::retry(
        "creating streams and buckets",
        &shutdown,
        startup::is_config_error,
        || async {
            bus::ensure_streams(&js, overrides).await?;
            bus::ensure_bucket(&js, &streams::WINDOWERS, overrides).await
        },
    )
    .await?;
    readiness.set_ready("streams");
    let open = |name: &'static str| {
        let js = js.clone();
        async move {
            js.get_stream(name)
                .await
                .map_err(|e| WindowerError::Stream(name, e.to_string()))
        }
    };
    let stream_handles = [
        open(streams::EVENTS.name).await?,
        open(streams::SUMMARY.name).await?,
        open(streams::STATUS.name).await?,
    ];

    let ttl = bilipulse_runtime::membership::key_ttl(config.member_ttl, &streams::WINDOWERS);
    let me = Member {
        v: SCHEMA_VERSION,
        id: id.clone(),
        started: now_ms(),
        ts: now_ms(),
        capacity: u32::from(bilipulse_proto::keygroup::KEY_GROUPS),
        draining: false,
        version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    let mut membership = startup::retry(
        "joining bili_windowers",
        &shutdown,
        |_| false,
        || Membership::join(js.clone(), members_kv.clone(), me.clone(), ttl),
    )
    .await?;
    let watches = CancellationToken::new();
    let members = kv_mirror::spawn(
        members_kv,
        kv_mirror::decode_member,
        |_, _| {},
        watches.clone(),
    );
    let assigned = assign::follow(members, id.clone(), watches.clone());
    readiness.set_ready("members");

    let engine = engine::Engine::new(
        engine::EngineConfig {
            settings: config.settings(),
            start: config.start,
            max_event_bytes: config.max_event_bytes,
            checkpoint_interval: config.checkpoint_interval,
        },
        client.clone(),
        stream_handles,
        metrics,
    );
    // Not ready until the engine holds its key groups (it says so itself, so this must come
    // before it starts).
    readiness.set_not_ready("key_groups", "waiting for the key group assignment");
    let engine_stop = CancellationToken::new();
    let ready = readiness.clone();
    let mut engine_task = tokio::spawn(engine.run(assigned, engine_stop.clone(), move |ok| {
        if ok {
            ready.set_ready("key_groups");
        } else {
            ready.set_not_ready("key_groups", "stopping");
        }
    }));

    let mut renew = tokio::time::interval(bilipulse_runtime::membership::renew_interval(ttl));
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result = loop {
        tokio::select! {
            _ = shutdown.cancelled() => break None,
            r = &mut engine_task => break Some(r),
            _ = renew.tick() => if let Err(e) = membership.renew(false).await {
                tracing::warn!(error = %e, "membership renewal failed");
            },
        }
    };
    // Commit everything first, then leave: the next owners load these final checkpoints.
    engine_stop.cancel();
    let result = match result {
        Some(r) => r,
        None => engine_task.await,
    };
    membership.leave().await;
    watches.cancel();
    let _ = admin_task.await;
    tracing::info!("windower stopped");
    match result {
        Ok(r) => Ok(r?),
        Err(join) => {
            tracing::error!(error = %join, "engine task failed");
            Ok(())
        }
    }
}
