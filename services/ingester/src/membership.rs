//! This ingester's liveness key in `bili_members`.
//!
//! The key carries a per-message TTL, so a crashed ingester disappears by itself and its rooms
//! are picked up by the others. Renewing must keep that TTL: a plain KV `update` would write the
//! value without one (the key would then never expire), so renewal publishes straight to the
//! bucket's subject with a `Nats-TTL` and the expected last revision (compare-and-set).

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, kv, message::PublishMessage};
use bilipulse_proto::{Member, streams::MEMBERS};
use thiserror::Error;

/// Why the membership key could not be written.
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
    #[error("cannot renew membership key {key:?}: {reason}")]
    Renew {
        /// The key.
        key: String,
        /// What went wrong.
        reason: String,
    },
}

/// The membership key of this ingester.
pub struct Membership {
    js: jetstream::Context,
    kv: kv::Store,
    me: Member,
    ttl: Duration,
    revision: u64,
}

impl Membership {
    /// Writes the key (taking over a leftover key of a previous incarnation with the same id).
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

    /// Renews the key, optionally marking this ingester as draining (it then takes no rooms and
    /// the others take over its rooms).
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
        let subject = format!("$KV.{}.{}", MEMBERS.bucket, self.me.id);
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
                    return Err(self.renew_err("key vanished while adopting it"));
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

    fn renew_err(&self, e: impl std::fmt::Display) -> MembershipError {
        MembershipError::Renew {
            key: self.me.id.clone(),
            reason: e.to_string(),
        }
    }
}

/// Wall-clock Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
