//! A replica's liveness key in a members bucket (`bili_members` for ingesters, the windowers'
//! bucket for windowers).
//!
//! Replicas of a service find each other through these keys: each writes its [`Member`] record
//! under its id, and every replica places the work ([`crate::placement`]) over the keys it sees.
//! The key carries a per-message TTL, so a crashed replica disappears by itself and its work is
//! picked up by the others. Renewing must keep that TTL: a plain KV `update` would write the
//! value without one (the key would then never expire), so renewal publishes straight to the
//! bucket's subject with a `Nats-TTL` and the expected last revision (compare-and-set).

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, kv, message::PublishMessage};
use bilipulse_proto::Member;
use thiserror::Error;

use crate::clock::now_ms;

/// The TTL of a replica's membership key: the configured one, else the contract's for its
/// bucket (`spec.key_ttl`), never under a second (NATS per-message TTLs are whole seconds).
pub fn key_ttl(configured: Option<Duration>, spec: &bilipulse_proto::streams::KvSpec) -> Duration {
    configured
        .or(spec.key_ttl)
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_secs(1))
}

/// How often to renew a key that lives `ttl`: a third of it, so one late or lost renewal does
/// not let the key expire and cost the replica its work. Every service renews by this rule.
pub fn renew_interval(ttl: Duration) -> Duration {
    ttl / 3
}

/// Why the membership key could not be written, so the caller can tell a refused first write
/// (start-up fails) from a failed renewal (logged and retried on the next tick).
#[derive(Debug, Error)]
pub enum MembershipError {
    /// The key could not be created.
    #[error("cannot create membership key {key:?}: {source}")]
    Create {
        /// The key.
        key: String,
        /// What NATS said.
        source: kv::CreateError,
    },
    /// Renewal failed.
    #[error("cannot renew membership key {key:?}: {source}")]
    Renew {
        /// The key.
        key: String,
        /// What went wrong.
        source: RenewError,
    },
}

/// The step of a renewal that failed, typed so callers can match on it instead of on text.
#[derive(Debug, Error)]
pub enum RenewError {
    /// The record could not be encoded.
    #[error("encoding the record: {0}")]
    Encode(#[from] bilipulse_proto::EncodeError),
    /// Publishing the new revision failed, or JetStream refused it.
    #[error("publishing the record: {0}")]
    Publish(#[from] jetstream::context::PublishError),
    /// The key of a previous incarnation could not be read while adopting it.
    #[error("reading the existing key: {0}")]
    Read(#[from] kv::EntryError),
    /// The key of a previous incarnation existed at create time but was gone when read.
    #[error("key vanished while adopting it")]
    Vanished,
}

/// This replica's membership key: written on [`Membership::join`], renewed by the caller every
/// [`renew_interval`], deleted on [`Membership::leave`].
pub struct Membership {
    js: jetstream::Context,
    kv: kv::Store,
    me: Member,
    ttl: Duration,
    revision: u64,
}

impl Membership {
    /// Writes `me` under `me.id` in the bucket `kv` with a TTL of `ttl` (taking over a leftover
    /// key of a previous incarnation with the same id). `js` must be the context `kv` was opened
    /// from: renewals publish to `$KV.<bucket>.<id>` through it.
    pub async fn join(
        js: jetstream::Context,
        kv: kv::Store,
        me: Member,
        ttl: Duration,
    ) -> Result<Membership, MembershipError> {
        let mut m = Membership {
            js,
            kv,
            me,
            ttl,
            revision: 0,
        };
        m.write().await?;
        Ok(m)
    }

    /// The record as last written.
    pub fn member(&self) -> &Member {
        &self.me
    }

    /// Renews the key, optionally marking this replica as draining (it then takes no work and
    /// the others take over its share).
    pub async fn renew(&mut self, draining: bool) -> Result<(), MembershipError> {
        self.me.draining = draining;
        self.write().await
    }

    /// Deletes the key so the others rebalance at once instead of after the TTL.
    pub async fn leave(self) {
        if let Err(e) = self.kv.delete(&self.me.id).await {
            tracing::warn!(error = %e, "could not delete membership key; it expires by TTL");
        }
    }

    async fn write(&mut self) -> Result<(), MembershipError> {
        self.me.ts = now_ms();
        let value: bytes::Bytes = bilipulse_proto::encode(&self.me)
            .map_err(|e| self.renew_err(e))?
            .into();
        if self.revision == 0 {
            return self.create(value).await;
        }
        let subject = format!("$KV.{}.{}", self.kv.name, self.me.id);
        let publish = PublishMessage::build()
            .payload(value.clone())
            .ttl(self.ttl)
            .expected_last_subject_sequence(self.revision);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| self.renew_err(e))?;
        match ack.await {
            Ok(ack) => {
                self.revision = ack.sequence;
                Ok(())
            }
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => {
                // The key expired (we were cut off longer than the TTL) or was rewritten: start
                // over from whatever is there now.
                tracing::warn!("membership key changed under us; rewriting it");
                self.revision = 0;
                self.create(value).await
            }
            Err(e) => Err(self.renew_err(e)),
        }
    }

    async fn create(&mut self, value: bytes::Bytes) -> Result<(), MembershipError> {
        match self
            .kv
            .create_with_ttl(&self.me.id, value.clone(), self.ttl)
            .await
        {
            Ok(rev) => {
                self.revision = rev;
                Ok(())
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // A previous incarnation's key (same pod name) is still alive: adopt it.
                let entry = self
                    .kv
                    .entry(&self.me.id)
                    .await
                    .map_err(|e| self.renew_err(e))?;
                let Some(entry) = entry else {
                    return Err(self.renew_err(RenewError::Vanished));
                };
                self.revision = entry.revision;
                Box::pin(self.write()).await
            }
            Err(source) => Err(MembershipError::Create {
                key: self.me.id.clone(),
                source,
            }),
        }
    }

    fn renew_err(&self, e: impl Into<RenewError>) -> MembershipError {
        MembershipError::Renew {
            key: self.me.id.clone(),
            source: e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_ttl_is_the_configured_one_else_the_contracts_and_at_least_a_second() {
        use bilipulse_proto::streams::{MEMBERS, ROOMS};
        assert_eq!(key_ttl(None, &MEMBERS), MEMBERS.key_ttl.unwrap());
        assert_eq!(
            key_ttl(Some(Duration::from_secs(2)), &MEMBERS),
            Duration::from_secs(2)
        );
        assert_eq!(
            key_ttl(Some(Duration::from_millis(10)), &MEMBERS),
            Duration::from_secs(1)
        );
        assert_eq!(key_ttl(None, &ROOMS), Duration::from_secs(1));
    }

    #[test]
    fn renewal_runs_three_times_per_ttl() {
        assert_eq!(
            renew_interval(Duration::from_secs(15)),
            Duration::from_secs(5)
        );
        assert_eq!(
            renew_interval(Duration::from_secs(1)),
            Duration::from_nanos(333_333_333)
        );
    }
}
