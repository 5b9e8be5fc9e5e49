//! The NATS connection and the bus's JetStream streams and KV buckets.
//!
//! Start-up of every service is the same three steps:
//!
//! ```no_run
//! # async fn example(args: bilipulse_runtime::config::Args) -> Result<(), bilipulse_runtime::bus::BusError> {
//! use bilipulse_runtime::bus;
//! let client = bus::connect(&args.nats, "windower").await?;   // bounded retries, clear error
//! let js = bus::jetstream(client);
//! bus::ensure_streams(&js, &args.streams).await?;              // create or verify, never overwrite
//! bus::ensure_buckets(&js, &args.streams).await?;
//! # Ok(()) }
//! ```
//!
//! Streams and buckets are created from `bilipulse_proto::streams`, the one definition every
//! service shares. If one already exists with settings that contradict that definition (other
//! subjects, storage, duplicate window, per-subject limit, history, TTL support), start-up stops
//! with [`BusError::Conflict`] naming what differs: silently rewriting a stream someone else
//! configured could drop data. Retention (`max_age`) and replica count are deployment choices and
//! are updated in place. Every service of one deployment must therefore be given the same
//! retention overrides, or they will take turns rewriting them.

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use async_nats::{Client, ConnectErrorKind, ConnectOptions, Event, ServerAddr};
use bilipulse_proto::streams::{ALL_BUCKETS, ALL_STREAMS, KvSpec, StreamSpec};
use thiserror::Error;

use crate::admin::Readiness;
use crate::config::{NatsConfig, StreamOverrides};

/// JetStream publishes awaiting their server ack, per context, before `publish` waits.
///
/// Bounds memory and tells a fast publisher that the server is falling behind (backpressure)
/// instead of letting acks pile up; a few thousand keeps a busy ingester pipelined.
pub const MAX_ACK_INFLIGHT: usize = 4096;

/// The [`Readiness`] condition [`connect_with_readiness`] keeps up to date.
pub const READY_NATS: &str = "nats";

/// How long one connection attempt to one server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the bus could not be reached or set up.
#[derive(Debug, Error)]
pub enum BusError {
    /// `--nats-url` does not parse.
    #[error("invalid NATS URL {url:?}: {reason}")]
    BadUrl {
        /// The URL list as given.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// The credentials file could not be read or parsed.
    #[error("cannot use NATS credentials file {path}: {source}")]
    Credentials {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Every connection attempt failed.
    #[error("cannot reach NATS at {url} after {attempts} attempts: {reason}")]
    Unreachable {
        /// The URL list tried.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure, in words.
        reason: String,
        /// The last failure.
        source: async_nats::ConnectError,
    },
    /// The server answered but refused us (credentials, permissions); retrying cannot help.
    #[error("NATS at {url} refused the connection: {source}")]
    Refused {
        /// The URL list tried.
        url: String,
        /// The server's refusal.
        source: async_nats::ConnectError,
    },
    /// A retention override is shorter than the stream's duplicate window, which NATS rejects
    /// and which would break deduplication.
    #[error(
        "retention {max_age:?} for stream {stream} is shorter than its duplicate window {duplicate_window:?}"
    )]
    RetentionTooShort {
        /// The stream.
        stream: String,
        /// The retention asked for.
        max_age: Duration,
        /// The stream's duplicate window.
        duplicate_window: Duration,
    },
    /// A stream or bucket exists with settings that contradict the bus contract.
    #[error(
        "{resource} {name} already exists with conflicting settings: {}; bilipulse will not change them, fix or remove it by hand",
        Mismatch::join(.mismatches)
    )]
    Conflict {
        /// Stream or bucket.
        resource: Resource,
        /// Its name.
        name: String,
        /// Every setting that differs.
        mismatches: Vec<Mismatch>,
    },
    /// A JetStream request failed.
    #[error("cannot {action} {resource} {name}: {source}")]
    JetStream {
        /// What we tried (`create`, `inspect`, `update`).
        action: &'static str,
        /// Stream or bucket.
        resource: Resource,
        /// Its name.
        name: String,
        /// The client's error.
        source: BoxError,
    },
}

/// Kind of JetStream resource named in an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// A stream.
    Stream,
    /// A KV bucket.
    Bucket,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Resource::Stream => "stream",
            Resource::Bucket => "KV bucket",
        })
    }
}

/// One setting of an existing stream or bucket that differs from the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The setting, as NATS names it (`subjects`, `duplicate_window` …).
    pub setting: &'static str,
    /// What the contract says.
    pub want: String,
    /// What the server has.
    pub found: String,
}

impl Mismatch {
    fn join(all: &[Mismatch]) -> String {
        all.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {} (want {})", self.setting, self.found, self.want)
    }
}

// === connection ===

/// Connects to NATS as `name` (shown in the server's connection list).
///
/// The first connection is retried up to `cfg.connect_attempts` times with jittered exponential
/// backoff, so a service started alongside NATS waits for it but one pointed at the wrong place
/// fails within about half a minute with [`BusError::Unreachable`] naming the URL. Refusals
/// (bad credentials) fail at once. Once connected, the client reconnects by itself, forever,
/// with the same backoff; connection events are logged.
pub async fn connect(cfg: &NatsConfig, name: &str) -> Result<Client, BusError> {
    connect_inner(cfg, name, None).await
}

/// [`connect`], keeping the [`READY_NATS`] condition of `readiness` in step with the connection
/// (met while connected, unmet with a reason while not).
pub async fn connect_with_readiness(
    cfg: &NatsConfig,
    name: &str,
    readiness: &Readiness,
) -> Result<Client, BusError> {
    readiness.set_not_ready(READY_NATS, format!("connecting to {}", cfg.url));
    let client = connect_inner(cfg, name, Some(readiness.clone())).await?;
    readiness.set_ready(READY_NATS);
    Ok(client)
}

async fn connect_inner(
    cfg: &NatsConfig,
    name: &str,
    readiness: Option<Readiness>,
) -> Result<Client, BusError> {
    let servers = server_addrs(&cfg.url)?;
    let options = options(cfg, name, readiness).await?;
    let mut delays = cfg.connect_backoff.delays();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let err = match options.clone().connect(servers.clone()).await {
            Ok(client) => {
                tracing::info!(url = %cfg.url, name, attempt, "connected to NATS");
                return Ok(client);
            }
            Err(e) => e,
        };
        if matches!(
            err.kind(),
            ConnectErrorKind::Authentication
                | ConnectErrorKind::AuthorizationViolation
                | ConnectErrorKind::ServerParse
        ) {
            return Err(BusError::Refused {
                url: cfg.url.clone(),
                source: err,
            });
        }
        if attempt >= cfg.connect_attempts {
            return Err(BusError::Unreachable {
                url: cfg.url.clone(),
                attempts: attempt,
                reason: describe(&err),
                source: err,
            });
        }
        let delay = delays.next_delay();
        tracing::warn!(url = %cfg.url, attempt, error = %describe(&err), ?delay, "NATS not reachable yet; retrying");
        tokio::time::sleep(delay).await;
    }
}

/// The `--nats-url` list (comma-separated) as server addresses.
fn server_addrs(url: &str) -> Result<Vec<ServerAddr>, BusError> {
    let bad = |reason: String| BusError::BadUrl {
        url: url.to_owned(),
        reason,
    };
    let addrs = url
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ServerAddr>()
                .map_err(|e| bad(format!("{s}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err(bad("no server given".into()));
    }
    Ok(addrs)
}

async fn options(
    cfg: &NatsConfig,
    name: &str,
    readiness: Option<Readiness>,
) -> Result<ConnectOptions, BusError> {
    let mut options = match &cfg.creds {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| BusError::Credentials {
                path: path.display().to_string(),
                source,
            })?,
        None => ConnectOptions::new(),
    };
    if let (Some(user), Some(password)) = (&cfg.user, &cfg.password) {
        // Replies (JetStream acks and API answers) come to `_INBOX.<user>.…`, so each user's
        // permissions can let it read its own replies and nobody else's (k8s/base/nats/auth.conf).
        options = options
            .user_and_password(user.clone(), password.clone())
            .custom_inbox_prefix(format!("_INBOX.{user}"));
    }
    let backoff = cfg.connect_backoff;
    let conn_name = name.to_owned();
    Ok(options
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT)
        .max_reconnects(None)
        // The first reconnect is immediate (a server restart is usually quick), later ones back
        // off like the initial connect.
        .reconnect_delay_callback(move |attempts| match attempts {
            0 | 1 => Duration::ZERO,
            n => backoff.delay_with(n.saturating_sub(2).min(64) as u32, &mut rand::rng()),
        })
        .event_callback(move |event| {
            let readiness = readiness.clone();
            let name = conn_name.clone();
            async move { on_event(&name, event, readiness.as_ref()) }
        }))
}

fn on_event(name: &str, event: Event, readiness: Option<&Readiness>) {
    match &event {
        Event::Connected => {
            tracing::info!(nats_client = name, "NATS connection (re)established");
            if let Some(r) = readiness {
                r.set_ready(READY_NATS);
            }
        }
        Event::Disconnected => {
            tracing::warn!(nats_client = name, "NATS connection lost; reconnecting");
            if let Some(r) = readiness {
                r.set_not_ready(READY_NATS, "disconnected from NATS");
            }
        }
        Event::Closed => {
            tracing::info!(nats_client = name, "NATS connection closed");
            if let Some(r) = readiness {
                r.set_not_ready(READY_NATS, "NATS connection closed");
            }
        }
        Event::SlowConsumer(sid) => {
            tracing::warn!(
                nats_client = name,
                subscription = sid,
                "NATS slow consumer: messages dropped"
            );
        }
        Event::LameDuckMode => {
            tracing::warn!(
                nats_client = name,
                "NATS server entering lame duck mode; will move"
            );
        }
        Event::ServerError(e) => {
            tracing::error!(nats_client = name, error = %e, "NATS server error")
        }
        Event::ClientError(e) => {
            tracing::warn!(nats_client = name, error = %e, "NATS client error")
        }
        Event::Draining => tracing::info!(nats_client = name, "NATS connection draining"),
    }
}

/// A connect failure in words: the OS's reason ("connection refused") when there is one.
fn describe(err: &async_nats::ConnectError) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.kind().to_string();
        }
        cause = e.source();
    }
    err.to_string()
}

/// A JetStream context with an explicit in-flight ack limit ([`MAX_ACK_INFLIGHT`]) and
/// backpressure on, rather than relying on the client's defaults.
pub fn jetstream(client: Client) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .max_ack_inflight(MAX_ACK_INFLIGHT)
        .backpressure_on_inflight(true)
        .build(client)
}

// === streams ===

/// The stream configuration the contract asks for, with the deployment's overrides applied.
pub fn stream_config(
    spec: &StreamSpec,
    overrides: &StreamOverrides,
) -> Result<stream::Config, BusError> {
    let max_age = overrides.max_age_for(spec.name).unwrap_or(spec.max_age);
    if max_age < spec.duplicate_window {
        return Err(BusError::RetentionTooShort {
            stream: spec.name.to_owned(),
            max_age,
            duplicate_window: spec.duplicate_window,
        });
    }
    Ok(stream::Config {
        name: spec.name.to_owned(),
        subjects: spec.subjects.iter().map(|s| (*s).to_owned()).collect(),
        max_age,
        duplicate_window: spec.duplicate_window,
        max_messages_per_subject: spec.max_msgs_per_subject,
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: overrides.replicas(),
        allow_atomic_publish: spec.allow_atomic,
        ..Default::default()
    })
}

/// Creates or verifies every stream of the bus (`bilipulse_proto::streams::ALL_STREAMS`).
/// Returns their current infos, in contract order.
pub async fn ensure_streams(
    js: &jetstream::Context,
    overrides: &StreamOverrides,
) -> Result<Vec<stream::Info>, BusError> {
    let mut infos = Vec::with_capacity(ALL_STREAMS.len());
    for spec in &ALL_STREAMS {
        infos.push(ensure_stream(js, spec, overrides).await?);
    }
    Ok(infos)
}

/// Creates the stream `spec` describes, or checks an existing one against it (see the module
/// doc for what is verified and what is updated).
pub async fn ensure_stream(
    js: &jetstream::Context,
    spec: &StreamSpec,
    overrides: &StreamOverrides,
) -> Result<stream::Info, BusError> {
    let want = stream_config(spec, overrides)?;
    let create = async {
        js.create_stream(want.clone())
            .await
            .map(drop)
            .map_err(Into::into)
    };
    create_or_verify(js, Resource::Stream, spec.name, &want, create).await
}

// === KV buckets ===

/// The KV bucket configuration the contract asks for.
pub fn bucket_config(spec: &KvSpec, overrides: &StreamOverrides) -> kv::Config {
    kv::Config {
        bucket: spec.bucket.to_owned(),
        history: spec.history,
        storage: stream::StorageType::File,
        num_replicas: overrides.replicas(),
        limit_markers: spec.limit_markers,
        ..Default::default()
    }
}

/// Creates or verifies every KV bucket of the bus (`bilipulse_proto::streams::ALL_BUCKETS`) and
/// returns handles to them, in contract order.
pub async fn ensure_buckets(
    js: &jetstream::Context,
    overrides: &StreamOverrides,
) -> Result<Vec<kv::Store>, BusError> {
    let mut stores = Vec::with_capacity(ALL_BUCKETS.len());
    for spec in &ALL_BUCKETS {
        stores.push(ensure_bucket(js, spec, overrides).await?);
    }
    Ok(stores)
}

/// Creates the bucket `spec` describes, or checks an existing one against it.
pub async fn ensure_bucket(
    js: &jetstream::Context,
    spec: &KvSpec,
    overrides: &StreamOverrides,
) -> Result<kv::Store, BusError> {
    // A bucket is a stream `KV_<bucket>`; these are the settings of it that the contract fixes
    // (the client derives the same from `bucket_config` when creating).
    let want = stream::Config {
        name: format!("KV_{}", spec.bucket),
        subjects: vec![format!("$KV.{}.>", spec.bucket)],
        max_messages_per_subject: spec.history.max(1),
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: overrides.replicas(),
        allow_message_ttl: spec.limit_markers.is_some(),
        subject_delete_marker_ttl: spec.limit_markers,
        ..Default::default()
    };
    let create = async {
        let config = bucket_config(spec, overrides);
        js.create_key_value(config)
            .await
            .map(drop)
            .map_err(Into::into)
    };
    create_or_verify(js, Resource::Bucket, spec.bucket, &want, create).await?;
    js.get_key_value(spec.bucket)
        .await
        .map_err(|e| jetstream_error("open", Resource::Bucket, spec.bucket, e.into()))
}

// === shared create-or-verify ===

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn jetstream_error(
    action: &'static str,
    resource: Resource,
    name: &str,
    source: BoxError,
) -> BusError {
    BusError::JetStream {
        action,
        resource,
        name: name.to_owned(),
        source,
    }
}

/// Runs `create` unless the stream `want.name` exists; an existing one (found first, or made by
/// another service while `create` raced it) is verified against `want` and has its
/// retention/replicas brought in line. Returns the stream's info afterwards.
async fn create_or_verify(
    js: &jetstream::Context,
    resource: Resource,
    name: &str,
    want: &stream::Config,
    create: impl Future<Output = Result<(), BoxError>>,
) -> Result<stream::Info, BusError> {
    let inspect_err = |e: jetstream::context::GetStreamError| {
        jetstream_error("inspect", resource, name, e.into())
    };
    let have = match lookup(js, &want.name).await.map_err(inspect_err)? {
        Some(have) => have,
        None => match create.await {
            Ok(()) => {
                return lookup(js, &want.name)
                    .await
                    .map_err(inspect_err)?
                    .ok_or_else(|| {
                        jetstream_error("inspect", resource, name, "vanished after creation".into())
                    });
            }
            Err(create_err) => match lookup(js, &want.name).await {
                Ok(Some(have)) => have,
                _ => return Err(jetstream_error("create", resource, name, create_err)),
            },
        },
    };
    let have = migrate_additive(js, resource, name, want, have).await?;
    let mismatches = compare(want, &have.config, resource == Resource::Bucket);
    if !mismatches.is_empty() {
        return Err(BusError::Conflict {
            resource,
            name: name.to_owned(),
            mismatches,
        });
    }
    // Retention belongs to the deployment for streams; for buckets the contract has none.
    let retention_differs = resource == Resource::Stream && have.config.max_age != want.max_age;
    if !retention_differs && have.config.num_replicas == want.num_replicas {
        return Ok(have);
    }
    let mut updated = have.config.clone();
    if retention_differs {
        updated.max_age = want.max_age;
    }
    updated.num_replicas = want.num_replicas;
    tracing::info!(
        %resource, name,
        max_age = ?updated.max_age, was_max_age = ?have.config.max_age,
        replicas = updated.num_replicas, was_replicas = have.config.num_replicas,
        "updating retention/replicas"
    );
    js.update_stream(&updated)
        .await
        .map_err(|e| jetstream_error("update", resource, name, e.into()))
}

/// Brings an existing stream up to a newer contract where the change is purely additive and
/// loses nothing: subjects the contract added are captured too (an existing subject is never
/// dropped), and atomic batch publishing is switched on when the contract asks for it. Anything
/// else that differs is left for [`compare`] to report.
async fn migrate_additive(
    js: &jetstream::Context,
    resource: Resource,
    name: &str,
    want: &stream::Config,
    have: stream::Info,
) -> Result<stream::Info, BusError> {
    let missing: Vec<&String> = want
        .subjects
        .iter()
        .filter(|s| !have.config.subjects.contains(s))
        .collect();
    let extends = !missing.is_empty()
        && have
            .config
            .subjects
            .iter()
            .all(|s| want.subjects.contains(s));
    let atomic = want.allow_atomic_publish && !have.config.allow_atomic_publish;
    if !extends && !atomic {
        return Ok(have);
    }
    let mut updated = have.config.clone();
    if extends {
        updated.subjects = want.subjects.clone();
    }
    updated.allow_atomic_publish |= want.allow_atomic_publish;
    if !compare(want, &updated, resource == Resource::Bucket).is_empty() {
        return Ok(have); // refused below: leave the stream exactly as found
    }
    tracing::info!(%resource, name, added_subjects = ?missing, allow_atomic = updated.allow_atomic_publish,
        "extending stream to the current contract");
    js.update_stream(&updated)
        .await
        .map_err(|e| jetstream_error("update", resource, name, e.into()))
}

/// The stream's info, or `None` when it does not exist.
async fn lookup(
    js: &jetstream::Context,
    name: &str,
) -> Result<Option<stream::Info>, jetstream::context::GetStreamError> {
    match js.get_stream(name).await {
        Ok(s) => Ok(Some(s.cached_info().clone())),
        Err(e) => match e.kind() {
            jetstream::context::GetStreamErrorKind::JetStream(js_err)
                if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
            {
                Ok(None)
            }
            _ => Err(e),
        },
    }
}

/// The contract settings of `have` that differ from `want`. `kv` adds the per-key TTL settings
/// of buckets; streams leave the duplicate window out for buckets (the server picks it).
fn compare(want: &stream::Config, have: &stream::Config, kv: bool) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut check = |setting, want: String, found: String| {
        if want != found {
            out.push(Mismatch {
                setting,
                want,
                found,
            });
        }
    };
    let sorted = |v: &[String]| {
        let mut v = v.to_vec();
        v.sort();
        format!("{v:?}")
    };
    check("subjects", sorted(&want.subjects), sorted(&have.subjects));
    check(
        "storage",
        format!("{:?}", want.storage),
        format!("{:?}", have.storage),
    );
    check(
        "retention",
        format!("{:?}", want.retention),
        format!("{:?}", have.retention),
    );
    if want.allow_atomic_publish {
        check(
            "allow_atomic",
            want.allow_atomic_publish.to_string(),
            have.allow_atomic_publish.to_string(),
        );
    }
    check(
        "max_msgs_per_subject",
        want.max_messages_per_subject.to_string(),
        have.max_messages_per_subject.to_string(),
    );
    if kv {
        check(
            "allow_msg_ttl",
            want.allow_message_ttl.to_string(),
            have.allow_message_ttl.to_string(),
        );
        check(
            "subject_delete_marker_ttl",
            format!("{:?}", want.subject_delete_marker_ttl),
            format!("{:?}", have.subject_delete_marker_ttl),
        );
    } else {
        check(
            "duplicate_window",
            format!("{:?}", want.duplicate_window),
            format!("{:?}", have.duplicate_window),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bilipulse_proto::streams::{EVENTS, MEMBERS, STATUS};

    #[test]
    fn url_lists_split_on_commas() {
        assert_eq!(
            server_addrs("nats://127.0.0.1:1, nats://127.0.0.1:2")
                .unwrap()
                .len(),
            2
        );
        assert!(matches!(server_addrs(" , "), Err(BusError::BadUrl { .. })));
        assert!(matches!(
            server_addrs("nats://127.0.0.1:notaport"),
            Err(BusError::BadUrl { .. })
        ));
    }

    #[test]
    fn stream_config_follows_the_contract_and_overrides() {
        let c = stream_config(&STATUS, &StreamOverrides::default()).unwrap();
        assert_eq!(c.name, STATUS.name);
        assert_eq!(c.subjects, STATUS.subjects);
        assert_eq!(c.max_age, STATUS.max_age);
        assert_eq!(c.duplicate_window, STATUS.duplicate_window);
        assert_eq!(c.max_messages_per_subject, STATUS.max_msgs_per_subject);
        assert_eq!(c.storage, stream::StorageType::File);
        assert_eq!(c.num_replicas, 1);

        let o = StreamOverrides {
            events_max_age: Some(Duration::from_secs(3600)),
            stream_replicas: Some(3),
            ..Default::default()
        };
        let c = stream_config(&EVENTS, &o).unwrap();
        assert_eq!((c.max_age, c.num_replicas), (Duration::from_secs(3600), 3));
    }

    #[test]
    fn retention_shorter_than_the_duplicate_window_is_refused() {
        let o = StreamOverrides {
            events_max_age: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        match stream_config(&EVENTS, &o) {
            Err(BusError::RetentionTooShort { stream, .. }) => assert_eq!(stream, EVENTS.name),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn compare_names_every_differing_setting_and_ignores_retention() {
        let want = stream_config(&EVENTS, &StreamOverrides::default()).unwrap();
        let mut have = want.clone();
        have.max_age = Duration::from_secs(1);
        have.num_replicas = 3;
        assert!(compare(&want, &have, false).is_empty());
        have.subjects = vec!["other.>".into()];
        have.duplicate_window = Duration::from_secs(30);
        let m = compare(&want, &have, false);
        let names: Vec<_> = m.iter().map(|m| m.setting).collect();
        assert_eq!(names, ["subjects", "duplicate_window"]);
        let text = BusError::Conflict {
            resource: Resource::Stream,
            name: want.name.clone(),
            mismatches: m,
        }
        .to_string();
        assert!(
            text.contains("stream BILI_EVENTS") && text.contains("other.>"),
            "{text}"
        );
    }

    #[test]
    fn bucket_config_turns_on_per_key_ttl_where_the_contract_asks() {
        let c = bucket_config(&MEMBERS, &StreamOverrides::default());
        assert_eq!(c.bucket, MEMBERS.bucket);
        assert_eq!(c.history, MEMBERS.history);
        assert_eq!(c.limit_markers, MEMBERS.limit_markers);
        assert_eq!(c.storage, stream::StorageType::File);
    }
}
