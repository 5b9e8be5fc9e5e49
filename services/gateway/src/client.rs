//! One client's subscriptions, whatever its transport (WebSocket or SSE): requests in, answers
//! and topic messages into its [`ClientQueue`], every topic left when the client goes.

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::Value;

use crate::channel::{Channel, Topic};
use crate::frame::{Control, ErrorCode};
use crate::hub::Hub;
use crate::metrics::Label;
use crate::protocol::{self, Request};
use crate::queue::ClientQueue;
use crate::rooms::{DesiredRooms, Lookup};
use crate::subscriptions::Subscriptions;

/// Per-client limits (`--max-rooms-per-client`, `--max-msgs-per-sec`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// Distinct rooms one client may subscribe to.
    pub max_rooms: usize,
    /// Client frames per second (burst of the same size).
    pub max_msgs_per_sec: NonZeroU32,
}

/// A client's state.
pub struct Client {
    hub: Hub,
    rooms: DesiredRooms,
    queue: Arc<ClientQueue>,
    limits: ClientLimits,
    rate: DefaultDirectRateLimiter,
    topics: Subscriptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("topics", &self.topics.len())
            .finish()
    }
}

impl Client {
    /// A client with nothing subscribed, answering into `queue`.
    pub fn new(
        hub: Hub,
        rooms: DesiredRooms,
        queue: Arc<ClientQueue>,
        limits: ClientLimits,
    ) -> Client {
        Client {
            hub,
            rooms,
            queue,
            limits,
            rate: RateLimiter::direct(Quota::per_second(limits.max_msgs_per_sec)),
            topics: Subscriptions::default(),
        }
    }

    /// The client's queue.
    pub fn queue(&self) -> &Arc<ClientQueue> {
        &self.queue
    }

    /// Topics subscribed.
    pub fn topics(&self) -> &Subscriptions {
        &self.topics
    }

    /// Handles one text frame from the client.
    pub fn on_text(&mut self, text: &str) {
        if self.rate.check().is_err() {
            self.error(
                None,
                ErrorCode::RateLimited,
                format!(
                    "more than {} frames per second; frame ignored",
                    self.limits.max_msgs_per_sec
                ),
            );
            return;
        }
        let parsed = protocol::parse(text);
        let req = parsed.req.as_ref();
        match parsed.request {
            Err((code, message)) => self.error(req, code, message),
            Ok(Request::Ping) => {
                self.queue.push_control(Control::Pong { req }.to_frame());
            }
            Ok(Request::Subscribe {
                rooms,
                channels,
                history,
            }) => self.subscribe(req, &rooms, &channels, history),
            Ok(Request::Unsubscribe { rooms, channels }) => {
                self.unsubscribe(req, &rooms, &channels);
            }
        }
    }

    /// Answers a binary frame (the protocol is text).
    pub fn on_binary(&mut self) {
        self.error(
            None,
            ErrorCode::BinaryFrame,
            "binary frames are not part of the protocol; send JSON text".into(),
        );
    }

    /// Queues an `error` frame.
    pub fn error(&self, req: Option<&Value>, code: ErrorCode, message: String) {
        self.hub
            .metrics()
            .client_errors
            .get_or_create(&Label::of(code.as_str()))
            .inc();
        self.queue
            .push_control(Control::Error { req, code, message }.to_frame());
    }

    /// The topics `rooms × channels` name, or the error refusing all of them.
    pub fn check(
        &self,
        rooms: &[u64],
        channels: &[String],
    ) -> Result<Vec<Topic>, (ErrorCode, String)> {
        let mut chans = Vec::with_capacity(channels.len());
        for name in channels {
            let c = Channel::parse(name).ok_or_else(|| {
                (
                    ErrorCode::UnknownChannel,
                    format!(
                        "unknown channel {name:?}; channels are {}",
                        Channel::names().join(", ")
                    ),
                )
            })?;
            chans.push(c);
        }
        let mut topics = Vec::new();
        for &id in rooms {
            let room = match self.rooms.lookup(id) {
                Lookup::Room(r) => r,
                Lookup::Unknown => {
                    return Err((
                        ErrorCode::UnknownRoom,
                        format!("room {id} is not observed; add it first (POST /api/rooms)"),
                    ));
                }
                Lookup::Loading => {
                    return Err((
                        ErrorCode::Unavailable,
                        "the desired rooms are still loading from NATS; retry".into(),
                    ));
                }
            };
            for &channel in &chans {
                let t = Topic { room, channel };
                if !topics.contains(&t) {
                    topics.push(t);
                }
            }
        }
        Ok(topics)
    }

    /// Subscribes to every topic of `rooms × channels`, or to none of them.
    pub fn subscribe(
        &mut self,
        req: Option<&Value>,
        rooms: &[u64],
        channels: &[String],
        history: bool,
    ) {
        let topics = match self.check(rooms, channels) {
            Ok(t) => t,
            Err((code, message)) => return self.error(req, code, message),
        };
        let new_rooms: BTreeSet<u64> = topics
            .iter()
            .map(|t| t.room)
            .filter(|r| !self.topics.has_room(*r))
            .collect();
        let rooms_after = self.topics.room_count() + new_rooms.len();
        if rooms_after > self.limits.max_rooms {
            return self.error(
                req,
                ErrorCode::TooManyRooms,
                format!(
                    "this would make {} rooms; at most {} per client",
                    rooms_after, self.limits.max_rooms
                ),
            );
        }
        for t in topics {
            let already = !self.topics.insert(t);
            self.queue.push_control(
                Control::Subscribed {
                    req,
                    room: t.room,
                    channel: t.channel.to_string(),
                    already,
                }
                .to_frame(),
            );
            if !already {
                self.hub.join(t, &self.queue, history);
            }
        }
        self.topics.shrink();
    }

    /// Unsubscribes from every topic of `rooms × channels` the client has.
    pub fn unsubscribe(&mut self, req: Option<&Value>, rooms: &[u64], channels: &[String]) {
        let topics = match self.check(rooms, channels) {
            Ok(t) => t,
            Err((code, message)) => return self.error(req, code, message),
        };
        for t in topics {
            if self.topics.remove(t) {
                self.hub.leave(t, &self.queue);
            }
            self.queue.push_control(
                Control::Unsubscribed {
                    req,
                    room: t.room,
                    channel: t.channel.to_string(),
                }
                .to_frame(),
            );
        }
        self.topics.shrink();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for t in std::mem::take(&mut self.topics).iter() {
            self.hub.leave(t, &self.queue);
        }
    }
}
