//! The browser origins allowed to open `/ws`: a page on another site must not read a user's
//! gateway through their browser.

use axum::http::{HeaderMap, header};

/// The allow-list (`--allowed-origins`).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    any: bool,
    listed: Vec<String>,
}

impl Origins {
    /// From the flag's values; `*` allows any origin.
    pub fn new(values: &[String]) -> Origins {
        let listed: Vec<String> = values
            .iter()
            .map(|v| v.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .collect();
        Origins {
            any: listed.iter().any(|v| v == "*"),
            listed,
        }
    }

    /// Whether a request with these headers may connect: no `Origin` (not a browser), the
    /// page's own host (same origin), a listed origin, or `*`.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.any {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.trim_end_matches('/').to_ascii_lowercase();
        if self.listed.contains(&origin) {
            return true;
        }
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        let origin_host = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((origin_host, host), (Some(o), Some(h)) if o == h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn req(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).expect("host"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).expect("origin"));
        }
        h
    }

    #[test]
    fn same_origin_listed_and_originless_requests_pass() {
        let o = Origins::new(&["https://pulse.example.com/".into()]);
        assert!(o.allows(&req(None, "gw:8080")));
        assert!(o.allows(&req(Some("http://gw:8080"), "gw:8080")));
        assert!(o.allows(&req(Some("https://PULSE.example.com"), "gw:8080")));
        assert!(!o.allows(&req(Some("https://evil.example"), "gw:8080")));
        assert!(!o.allows(&req(Some("null"), "gw:8080")));
        assert!(Origins::new(&["*".into()]).allows(&req(Some("https://evil.example"), "gw")));
    }
}
