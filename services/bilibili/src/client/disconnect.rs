//! Why a connection to a danmaku server ended, as a closed set of kinds.
//!
//! The ingester labels its reconnect metric from the variant ([`DisconnectReason::label`]) and
//! publishes the `Display` text as the room's last error; nothing downstream reads the text to
//! find out what happened.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

/// A message the client sends on its own schedule; sending it can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    /// The auth packet, first frame of every connection.
    Auth,
    /// The 30-second heartbeat.
    Heartbeat,
}

impl fmt::Display for Outbound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outbound::Auth => "auth",
            Outbound::Heartbeat => "heartbeat",
        })
    }
}

/// Why a connection ended. `detail` fields carry the transport's own message, for logs only.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DisconnectReason {
    /// The resolved host did not make a valid WebSocket URL.
    #[error("bad WebSocket URL {url}: {detail}")]
    BadUrl {
        /// The URL as built.
        url: String,
        /// The parser's complaint.
        detail: String,
    },
    /// The configured user agent cannot be sent as a header.
    #[error("user agent is not a valid header value")]
    BadUserAgent,
    /// TCP, TLS or the WebSocket upgrade failed.
    #[error("connect: {detail}")]
    Connect {
        /// The transport's message.
        detail: String,
    },
    /// Connecting took longer than the auth timeout.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// Writing the auth packet or a heartbeat failed.
    #[error("sending {what}: {detail}")]
    Send {
        /// Which message.
        what: Outbound,
        /// The transport's message.
        detail: String,
    },
    /// The byte stream ended without a close frame.
    #[error("connection closed")]
    Closed,
    /// Reading failed (reset, protocol violation, oversize frame).
    #[error("read: {detail}")]
    Read {
        /// The transport's message.
        detail: String,
    },
    /// The server sent a close frame.
    #[error("server closed the connection{}", close_suffix(*code, reason))]
    ServerClosed {
        /// The close code, when the frame had one.
        code: Option<u16>,
        /// The close reason text (may be empty).
        reason: String,
    },
    /// After auth, no frame arrived for this long.
    #[error("dead: no frame for {0:?}")]
    Dead(Duration),
    /// The server did not answer the auth packet in time.
    #[error("no auth reply within {0:?}")]
    NoAuthReply(Duration),
    /// The server answered the auth packet with a non-zero (or unreadable) code: the token is
    /// refused, so the supervisor resolves a new one.
    #[error("auth rejected ({})", code.map_or_else(|| "unreadable".to_owned(), |c| format!("code {c}")))]
    AuthRejected {
        /// The reply's `code`, `None` when the reply was not readable JSON with one.
        code: Option<i64>,
    },
}

fn close_suffix(code: Option<u16>, reason: &str) -> String {
    match code {
        Some(code) => format!(" ({code} {reason})"),
        None => String::new(),
    }
}

impl DisconnectReason {
    /// A short, fixed label for metrics: one per variant, never built from text.
    pub fn label(&self) -> &'static str {
        match self {
            DisconnectReason::BadUrl { .. } => "bad_url",
            DisconnectReason::BadUserAgent => "bad_user_agent",
            DisconnectReason::Connect { .. } => "connect",
            DisconnectReason::HandshakeTimeout(_) => "handshake_timeout",
            DisconnectReason::Send {
                what: Outbound::Auth,
                ..
            } => "send_auth",
            DisconnectReason::Send {
                what: Outbound::Heartbeat,
                ..
            } => "send_heartbeat",
            DisconnectReason::Closed => "closed",
            DisconnectReason::Read { .. } => "read",
            DisconnectReason::ServerClosed { .. } => "server_closed",
            DisconnectReason::Dead(_) => "dead",
            DisconnectReason::NoAuthReply(_) => "no_auth_reply",
            DisconnectReason::AuthRejected { .. } => "auth_rejected",
        }
    }

    /// True when the server refused our token: the next attempt needs a fresh one.
    pub fn is_auth_rejected(&self) -> bool {
        matches!(self, DisconnectReason::AuthRejected { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_the_detail_and_label_is_fixed() {
        let r = DisconnectReason::AuthRejected { code: Some(-101) };
        assert_eq!(r.to_string(), "auth rejected (code -101)");
        assert_eq!(r.label(), "auth_rejected");
        assert!(r.is_auth_rejected());
        let r = DisconnectReason::AuthRejected { code: None };
        assert_eq!(r.to_string(), "auth rejected (unreadable)");
        let r = DisconnectReason::ServerClosed {
            code: Some(1008),
            reason: "policy".into(),
        };
        assert_eq!(r.to_string(), "server closed the connection (1008 policy)");
        assert_eq!(
            DisconnectReason::ServerClosed {
                code: None,
                reason: String::new()
            }
            .to_string(),
            "server closed the connection"
        );
        let r = DisconnectReason::Send {
            what: Outbound::Heartbeat,
            detail: "broken pipe".into(),
        };
        assert_eq!(r.to_string(), "sending heartbeat: broken pipe");
        assert_eq!(r.label(), "send_heartbeat");
        assert!(!r.is_auth_rejected());
    }
}
