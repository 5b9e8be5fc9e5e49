//! What a client can subscribe to: a [`Channel`] of a room, together a [`Topic`], and where on the
//! bus each one is read from.

use std::fmt;

use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{Kind, streams};

/// One kind of message about a room (`docs/websocket.md`, "Channels").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// Window summaries of one width (`1s`, `10s`, `1m`, `1h`).
    Window(Window),
    /// Live-session updates.
    Session,
    /// The ingester's coverage reports.
    Status,
    /// Room events of one kind (`danmaku`, `superchat`, …).
    Event(Kind),
}

/// The window widths a client may ask for.
pub const WINDOWS: [Window; 4] = [Window::S1, Window::S10, Window::M1, Window::H1];

impl Channel {
    /// Every channel a client may subscribe to, in a fixed order: a channel's position here is
    /// its bit in [`crate::subscriptions::Subscriptions`].
    pub const ALL: [Channel; 15] = [
        Channel::Window(Window::S1),
        Channel::Window(Window::S10),
        Channel::Window(Window::M1),
        Channel::Window(Window::H1),
        Channel::Session,
        Channel::Status,
        Channel::Event(Kind::Danmaku),
        Channel::Event(Kind::Gift),
        Channel::Event(Kind::Superchat),
        Channel::Event(Kind::Guard),
        Channel::Event(Kind::Interact),
        Channel::Event(Kind::Like),
        Channel::Event(Kind::Audience),
        Channel::Event(Kind::Live),
        Channel::Event(Kind::Other),
    ];

    /// The channel's position in [`Channel::ALL`]; `None` for a window width clients cannot
    /// ask for.
    pub fn index(self) -> Option<usize> {
        Channel::ALL.iter().position(|c| *c == self)
    }

    /// Parses a channel name as clients write it.
    pub fn parse(name: &str) -> Option<Channel> {
        match name {
            "session" => Some(Channel::Session),
            "status" => Some(Channel::Status),
            _ => {
                if let Some(w) = WINDOWS.iter().find(|w| w.to_string() == name) {
                    return Some(Channel::Window(*w));
                }
                Kind::parse(name).map(Channel::Event)
            }
        }
    }

    /// Every channel name, for error messages and documentation.
    pub fn names() -> Vec<String> {
        Channel::ALL.iter().map(|c| c.to_string()).collect()
    }

    /// The NATS subject holding this channel's messages for `room`.
    pub fn subject(self, room: u64) -> String {
        match self {
            Channel::Window(w) => subject::summary(room, w),
            Channel::Session => subject::session(room),
            Channel::Status => subject::status(room),
            Channel::Event(k) => subject::event(room, k),
        }
    }

    /// The JetStream stream the subject is stored in.
    pub fn stream(self) -> &'static str {
        match self {
            Channel::Window(_) | Channel::Session => streams::SUMMARY.name,
            Channel::Status => streams::STATUS.name,
            Channel::Event(_) => streams::EVENTS.name,
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Window(w) => write!(f, "{w}"),
            Channel::Session => f.write_str("session"),
            Channel::Status => f.write_str("status"),
            Channel::Event(k) => f.write_str(k.as_str()),
        }
    }
}

/// A room × a channel: the unit the hub reads from NATS once and shares among clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic {
    /// Real room id.
    pub room: u64,
    /// What about it.
    pub channel: Channel,
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.room, self.channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_channel() {
        for name in Channel::names() {
            let c = Channel::parse(&name).unwrap_or_else(|| panic!("{name} parses"));
            assert_eq!(c.to_string(), name);
        }
        assert_eq!(Channel::parse("5s"), None);
        assert_eq!(Channel::parse(""), None);
    }

    #[test]
    fn all_lists_every_channel_once_and_index_finds_it() {
        for (i, c) in Channel::ALL.iter().enumerate() {
            assert_eq!(c.index(), Some(i));
        }
        assert_eq!(Channel::Window(Window::from_secs(5).unwrap()).index(), None);
        let windows = Channel::ALL
            .iter()
            .filter(|c| matches!(c, Channel::Window(_)))
            .count();
        let events = Channel::ALL
            .iter()
            .filter(|c| matches!(c, Channel::Event(_)))
            .count();
        assert_eq!(
            (windows, events),
            (WINDOWS.len(), Kind::ALL.len()),
            "ALL is complete"
        );
    }

    #[test]
    fn subjects_are_the_contracts() {
        let one_second = Channel::parse("1s").unwrap();
        assert_eq!(one_second.subject(21452505), "bili.summary.21452505.1s");
        assert_eq!(
            Channel::parse("1h").unwrap().subject(7),
            "bili.summary.7.1h"
        );
        assert_eq!(Channel::Session.subject(7), "bili.session.7");
        assert_eq!(Channel::Status.stream(), "BILI_STATUS");
        assert_eq!(
            Channel::parse("danmaku").unwrap().subject(7),
            "bili.event.7.danmaku"
        );
    }
}
