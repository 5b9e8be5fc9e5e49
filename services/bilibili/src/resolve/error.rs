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

impl ResolveError {
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
