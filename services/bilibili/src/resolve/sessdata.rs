//! The login cookie, kept out of logs.

use std::fmt;
use std::path::Path;

/// Bilibili's `SESSDATA` login cookie.
///
/// It is a bearer credential for a whole account, so `Debug` and `Display` print
/// `<redacted>` and the value is reachable only through [`Sessdata::expose`], which the
/// resolver calls when it builds the `Cookie` header (marked sensitive there too).
#[derive(Clone, PartialEq, Eq)]
pub struct Sessdata(String);

/// Why a `SESSDATA` value was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessdataError {
    /// Nothing left after trimming whitespace.
    #[error("SESSDATA is empty")]
    Empty,
    /// A character that cannot appear in a cookie value (`;`, `,`, whitespace, control, non-ASCII).
    /// The value itself is not part of the message.
    #[error("SESSDATA contains a character that is not allowed in a cookie value")]
    InvalidCharacter,
    /// The file could not be read.
    #[error("reading SESSDATA from {path}: {source}")]
    Io {
        /// The file that was read.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The environment variable is not set (or not unicode).
    #[error("environment variable {0} is not set")]
    MissingEnv(String),
}

impl Sessdata {
    /// Wraps a cookie value, trimming surrounding whitespace (files usually end in a newline).
    ///
    /// The value must already be in its cookie (URL-encoded) form, as copied from the browser's
    /// cookie storage; a decoded value with `,` in it is refused rather than sent broken.
    pub fn new(value: impl Into<String>) -> Result<Sessdata, SessdataError> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(SessdataError::Empty);
        }
        let ok = trimmed
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\'));
        if !ok {
            return Err(SessdataError::InvalidCharacter);
        }
        Ok(Sessdata(trimmed.to_owned()))
    }

    /// Reads the cookie from a file (e.g. a mounted secret).
    pub fn from_file(path: &Path) -> Result<Sessdata, SessdataError> {
        let text = std::fs::read_to_string(path).map_err(|source| SessdataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Sessdata::new(text)
    }

    /// Reads the cookie from an environment variable.
    pub fn from_env(var: &str) -> Result<Sessdata, SessdataError> {
        let value = std::env::var(var).map_err(|_| SessdataError::MissingEnv(var.to_owned()))?;
        Sessdata::new(value)
    }

    /// The raw value, for building the `Cookie` header only. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sessdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sessdata(<redacted>)")
    }
}

impl fmt::Display for Sessdata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}
