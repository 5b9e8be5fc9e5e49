//! What can go wrong while resolving a room, by endpoint.

/// A resolution failure, naming the endpoint that failed so logs say where.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// Bilibili's risk control refused the request. Callers must back off (tens of seconds and
    /// growing), never retry at once.
    ///
    /// `code` is the API code (-352, -412), 412 for an HTTP 412 status, or 0 for a `v_voucher`
    /// challenge (a code-0 reply whose data is only a voucher).
    #[error("{endpoint}: risk control (code {code})")]
    RiskControl {
        /// The endpoint that answered.
        endpoint: &'static str,
        /// See the variant's documentation.
        code: i64,
    },
    /// The API answered with a non-zero code that is not risk control.
    #[error("{endpoint}: API code {code}: {message}")]
    Api {
        /// The endpoint that answered.
        endpoint: &'static str,
        /// Bilibili's `code`.
        code: i64,
        /// Bilibili's `message` (or `msg`).
        message: String,
    },
    /// A non-success HTTP status other than 412.
    #[error("{endpoint}: HTTP status {status}")]
    Http {
        /// The endpoint that answered.
        endpoint: &'static str,
        /// The HTTP status code.
        status: u16,
    },
    /// Connecting, sending or reading failed (includes timeouts).
    #[error("{endpoint}: transport: {source}")]
    Transport {
        /// The endpoint that was called.
        endpoint: &'static str,
        /// The underlying error.
        source: reqwest::Error,
    },
    /// The reply was not the JSON shape we need (HTML, truncated, missing field, too large).
    #[error("{endpoint}: undecodable reply: {reason}")]
    Decode {
        /// The endpoint that answered.
        endpoint: &'static str,
        /// What was wrong, without the body.
        reason: String,
    },
    /// The room does not exist.
    #[error("room {id} does not exist")]
    NotFound {
        /// The id that was looked up.
        id: u64,
    },
    /// The resolver configuration is unusable (bad base URL, user agent not a header value).
    #[error("resolver configuration: {0}")]
    Config(String),
}

/// What kind of resolve failure, without the details: `Copy`, comparable, and the source of
/// metric labels ([`ResolveErrorKind::label`]), so nobody reads an error's text for a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResolveErrorKind {
    /// Risk control; `code` as in [`ResolveError::RiskControl`].
    RiskControl {
        /// -352, -412, 412 (HTTP status) or 0 (`v_voucher` challenge).
        code: i64,
    },
    /// A non-zero API code that is not risk control.
    Api {
        /// Bilibili's `code`.
        code: i64,
    },
    /// A non-success HTTP status other than 412.
    Http {
        /// The status code.
        status: u16,
    },
    /// Connecting, sending or reading failed.
    Transport,
    /// The reply was not the JSON shape we need.
    Decode,
    /// The room does not exist (e.g. `room_init`'s code 60004).
    NotFound,
    /// The resolver configuration is unusable.
    Config,
}

impl ResolveErrorKind {
    /// A short label from a fixed set: the risk-control codes and the API codes the client
    /// knows (`-101` not logged in) by number, every other API code as `api`, HTTP statuses by
    /// class (`http_4xx`, `http_5xx`, `http_other`), then `transport`, `decode`, `not_found`,
    /// `config`. Fixed so that a server answering arbitrary codes cannot grow a metric's
    /// label set.
    pub fn label(&self) -> &'static str {
        match *self {
            ResolveErrorKind::RiskControl { code: -352 } => "-352",
            ResolveErrorKind::RiskControl { code: -412 } => "-412",
            ResolveErrorKind::RiskControl { code: 412 } => "412",
            ResolveErrorKind::RiskControl { code: 0 } => "voucher",
            ResolveErrorKind::RiskControl { .. } => "risk_control",
            ResolveErrorKind::Api { code: -101 } => "-101",
            ResolveErrorKind::Api { .. } => "api",
            ResolveErrorKind::Http { status: 400..=499 } => "http_4xx",
            ResolveErrorKind::Http { status: 500..=599 } => "http_5xx",
            ResolveErrorKind::Http { .. } => "http_other",
            ResolveErrorKind::Transport => "transport",
            ResolveErrorKind::Decode => "decode",
            ResolveErrorKind::NotFound => "not_found",
            ResolveErrorKind::Config => "config",
        }
    }
}

impl ResolveError {
    /// The error's kind, for labels and decisions that must not depend on its text.
    pub fn kind(&self) -> ResolveErrorKind {
        match self {
            ResolveError::RiskControl { code, .. } => ResolveErrorKind::RiskControl { code: *code },
            ResolveError::Api { code, .. } => ResolveErrorKind::Api { code: *code },
            ResolveError::Http { status, .. } => ResolveErrorKind::Http { status: *status },
            ResolveError::Transport { .. } => ResolveErrorKind::Transport,
            ResolveError::Decode { .. } => ResolveErrorKind::Decode,
            ResolveError::NotFound { .. } => ResolveErrorKind::NotFound,
            ResolveError::Config(_) => ResolveErrorKind::Config,
        }
    }

    /// True for the errors that mean "slow down": the caller should use its long back-off.
    pub fn is_risk_control(&self) -> bool {
        matches!(self, ResolveError::RiskControl { .. })
    }

    /// The endpoint involved, if the error came from one.
    pub fn endpoint(&self) -> Option<&'static str> {
        match self {
            ResolveError::RiskControl { endpoint, .. }
            | ResolveError::Api { endpoint, .. }
            | ResolveError::Http { endpoint, .. }
            | ResolveError::Transport { endpoint, .. }
            | ResolveError::Decode { endpoint, .. } => Some(endpoint),
            ResolveError::NotFound { .. } | ResolveError::Config(_) => None,
        }
    }
}

/// Risk-control API codes: -352 (request refused, usually WBI/buvid3/UA) and -412 (request
/// intercepted for frequency).
pub const RISK_CONTROL_CODES: [i64; 2] = [-352, -412];

/// Maps an HTTP status to an error, or `None` when the status is a success.
///
/// 412 is Bilibili's generic risk-control status; it is classified with the API codes so the
/// caller backs off the same way.
pub fn classify_status(endpoint: &'static str, status: u16) -> Option<ResolveError> {
    match status {
        200..=299 => None,
        412 => Some(ResolveError::RiskControl {
            endpoint,
            code: 412,
        }),
        _ => Some(ResolveError::Http { endpoint, status }),
    }
}

/// Maps a non-zero API code to an error.
pub fn classify_code(endpoint: &'static str, code: i64, message: &str) -> ResolveError {
    if RISK_CONTROL_CODES.contains(&code) {
        ResolveError::RiskControl { endpoint, code }
    } else {
        ResolveError::Api {
            endpoint,
            code,
            message: message.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_kind_not_the_text() {
        // The text of a missing room 4123 contains "412"; its label must not say risk control.
        let missing = ResolveError::NotFound { id: 4123 };
        assert!(missing.to_string().contains("412"));
        assert_eq!(missing.kind(), ResolveErrorKind::NotFound);
        assert_eq!(missing.kind().label(), "not_found");

        let cases = [
            (classify_code("nav", -352, "x"), "-352"),
            (classify_code("nav", -412, "x"), "-412"),
            (classify_status("nav", 412).unwrap(), "412"),
            (classify_code("nav", -101, "账号未登录"), "-101"),
            (classify_code("nav", 60_004, "直播间不存在"), "api"),
            (classify_code("nav", -41_200, "412 in the message"), "api"),
            (classify_status("nav", 503).unwrap(), "http_5xx"),
            (classify_status("nav", 404).unwrap(), "http_4xx"),
            (
                ResolveError::RiskControl {
                    endpoint: "nav",
                    code: 0,
                },
                "voucher",
            ),
            (
                ResolveError::Decode {
                    endpoint: "nav",
                    reason: "-352".into(),
                },
                "decode",
            ),
        ];
        for (error, label) in cases {
            assert_eq!(error.kind().label(), label, "{error}");
        }
        assert!(classify_status("nav", 204).is_none());
    }
}
