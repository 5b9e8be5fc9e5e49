//! The bearer token guarding REST writes.

use axum::http::{HeaderMap, header};
use subtle::ConstantTimeEq as _;

/// The configured write token. Its `Debug` output hides it, so logging the state is safe.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token is configured: writes are off.
    WritesDisabled,
    /// The request carries no bearer token.
    Missing,
    /// The request's token is wrong.
    Wrong,
}

impl Token {
    /// A token; empty strings are not tokens.
    pub fn new(s: String) -> Option<Token> {
        (!s.is_empty()).then_some(Token(s))
    }

    /// Whether `headers` carry this token as `Authorization: Bearer <token>` (compared in
    /// constant time).
    pub fn check(token: Option<&Token>, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(token) = token else {
            return Err(Refusal::WritesDisabled);
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .ok_or(Refusal::Missing)?;
        if bool::from(given.as_bytes().ct_eq(token.0.as_bytes())) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    #[test]
    fn only_the_configured_bearer_token_passes() {
        let t = Token::new("s3cret".into());
        assert_eq!(Token::check(t.as_ref(), &headers("Bearer s3cret")), Ok(()));
        assert_eq!(Token::check(t.as_ref(), &headers("bearer s3cret")), Ok(()));
        assert_eq!(
            Token::check(t.as_ref(), &headers("Bearer s3cre")),
            Err(Refusal::Wrong)
        );
        assert_eq!(
            Token::check(t.as_ref(), &headers("Basic s3cret")),
            Err(Refusal::Missing)
        );
        assert_eq!(
            Token::check(t.as_ref(), &HeaderMap::new()),
            Err(Refusal::Missing)
        );
        assert_eq!(
            Token::check(None, &headers("Bearer s3cret")),
            Err(Refusal::WritesDisabled)
        );
        assert!(Token::new(String::new()).is_none());
        assert_eq!(format!("{:?}", t.expect("token")), "Token(<hidden>)");
    }
}
