//! Opening the engine's two inputs: an ordered consumer of `BILI_EVENTS` from a stream
//! position, and one of the latest status per room in `BILI_STATUS`.
//!
//! Every request involved (stream info, consumer creation, its message stream) fails for a few
//! seconds while JetStream moves a stream's leader, after a node is lost or restarted. The
//! engine rides that out, as it does at start-up, instead of ending the windower: each opening
//! is retried with back-off through [`bilipulse_runtime::startup::retry`].

use std::pin::Pin;

use async_nats::jetstream::consumer::pull::OrderedError;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::{self, stream::Stream};
use futures::StreamExt;
use thiserror::Error;

use crate::engine::EngineError;

/// Messages read from a consumer before the engine looks at its other inputs.
const READ_CHUNK: usize = 1024;

/// An opened input: chunks of at most [`READ_CHUNK`] messages, in stream order.
pub(crate) type Messages =
    Pin<Box<dyn futures::Stream<Item = Vec<Result<jetstream::Message, OrderedError>>> + Send>>;

/// Which JetStream request of opening a consumer failed. All of them fail for a few seconds
/// while a stream's leader moves (a node lost or restarted): answered with a timeout or "no
/// responders", so they are retried rather than ending the windower.
#[derive(Debug, Error)]
pub enum ConsumerFailure {
    /// Reading the stream's last sequence.
    #[error("stream info: {0}")]
    Info(#[from] jetstream::stream::InfoError),
    /// Creating the ordered consumer.
    #[error("creating the consumer: {0}")]
    Create(#[from] jetstream::stream::ConsumerError),
    /// Starting its message stream.
    #[error("starting its messages: {0}")]
    Messages(#[from] jetstream::consumer::StreamError),
}

/// The last sequence of `BILI_EVENTS` (0 when empty).
pub(crate) async fn last_event_seq(events: &Stream) -> Result<u64, EngineError> {
    retry_opening("BILI_EVENTS", || last_sequence(events)).await
}

/// `BILI_EVENTS` from sequence `from` (≥ 1) on, with the stream's last sequence when it opened.
pub(crate) async fn events_from(
    events: &Stream,
    from: u64,
) -> Result<(u64, Messages), EngineError> {
    let (last, messages) = retry_opening("BILI_EVENTS", || async move {
        let last = last_sequence(events).await?;
        let consumer = events
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                },
                ..Default::default()
            })
            .await?;
        Ok((last, consumer.messages().await?))
    })
    .await?;
    Ok((last, Box::pin(messages.ready_chunks(READ_CHUNK))))
}

/// The latest status of every room in `BILI_STATUS`, then each new one.
pub(crate) async fn latest_statuses(status: &Stream) -> Result<Messages, EngineError> {
    let messages = retry_opening("BILI_STATUS", || async move {
        let consumer = status
            .create_consumer(pull::OrderedConfig {
                deliver_policy: DeliverPolicy::LastPerSubject,
                filter_subject: bilipulse_proto::subject::ALL_STATUS.to_owned(),
                ..Default::default()
            })
            .await?;
        Ok(consumer.messages().await?)
    })
    .await?;
    Ok(Box::pin(messages.ready_chunks(READ_CHUNK)))
}

/// The stream's last sequence (0 when empty).
async fn last_sequence(stream: &Stream) -> Result<u64, ConsumerFailure> {
    Ok(stream.get_info().await?.state.last_sequence)
}

/// Runs `attempt` until it succeeds; after [`bilipulse_runtime::startup::GIVE_UP_AFTER`] its
/// error ends the engine.
async fn retry_opening<T, F, Fut>(stream: &'static str, attempt: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ConsumerFailure>>,
{
    bilipulse_runtime::startup::retry(
        &format!("opening a consumer of {stream}"),
        &bilipulse_runtime::shutdown::Shutdown::new(),
        |_: &ConsumerFailure| false,
        attempt,
    )
    .await
    .map_err(|failure| EngineError::Consumer { stream, failure })
}
