//! Client requests (`docs/websocket.md`, "Client → server"), parsed from untrusted text into
//! typed requests or a typed refusal. Never panics, whatever the input.

use serde::Deserialize;
use serde_json::Value;

use crate::frame::ErrorCode;

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Subscribe to rooms × channels.
    Subscribe {
        /// Room ids as the client wrote them (real or short).
        rooms: Vec<u64>,
        /// Channel names.
        channels: Vec<String>,
        /// Send history first.
        history: bool,
    },
    /// Unsubscribe from rooms × channels.
    Unsubscribe {
        /// Room ids.
        rooms: Vec<u64>,
        /// Channel names.
        channels: Vec<String>,
    },
    /// Application-level ping.
    Ping,
}

/// A parsed frame: the request id to echo (if any) and the request or why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The client's `req`, echoed in answers.
    pub req: Option<Value>,
    /// The request, or the refusal's code and message.
    pub request: Result<Request, (ErrorCode, String)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Topics {
    #[serde(default)]
    #[allow(dead_code)]
    op: Value,
    #[serde(default)]
    #[allow(dead_code)]
    req: Value,
    rooms: Vec<u64>,
    channels: Vec<String>,
    #[serde(default = "yes")]
    history: bool,
}

fn yes() -> bool {
    true
}

/// Parses one text frame.
pub fn parse(text: &str) -> Parsed {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            return Parsed {
                req: None,
                request: Err((ErrorCode::BadJson, format!("not JSON: {e}"))),
            };
        }
    };
    let Value::Object(map) = &value else {
        return Parsed {
            req: None,
            request: Err((ErrorCode::BadJson, "a request is a JSON object".into())),
        };
    };
    let req = map.get("req").cloned();
    let request = match map.get("op") {
        None => Err((ErrorCode::BadRequest, "missing \"op\"".into())),
        Some(Value::String(op)) => match op.as_str() {
            "ping" => Ok(Request::Ping),
            "subscribe" | "unsubscribe" => match Topics::deserialize(&value) {
                Ok(t) if t.rooms.is_empty() || t.channels.is_empty() => Err((
                    ErrorCode::BadRequest,
                    "\"rooms\" and \"channels\" must not be empty".into(),
                )),
                Ok(t) if op == "subscribe" => Ok(Request::Subscribe {
                    rooms: t.rooms,
                    channels: t.channels,
                    history: t.history,
                }),
                Ok(t) => Ok(Request::Unsubscribe {
                    rooms: t.rooms,
                    channels: t.channels,
                }),
                Err(e) => Err((ErrorCode::BadRequest, format!("{op}: {e}"))),
            },
            other => Err((
                ErrorCode::UnknownOp,
                format!("unknown op {other:?}; ops are subscribe, unsubscribe, ping"),
            )),
        },
        Some(_) => Err((ErrorCode::BadRequest, "\"op\" must be a string".into())),
    };
    Parsed { req, request }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(text: &str) -> ErrorCode {
        match parse(text).request {
            Err((c, _)) => c,
            Ok(r) => panic!("{text} parsed as {r:?}"),
        }
    }

    #[test]
    fn requests_parse() {
        let p = parse(r#"{"op":"subscribe","req":1,"rooms":[5269],"channels":["1s"]}"#);
        assert_eq!(p.req, Some(Value::from(1)));
        assert_eq!(
            p.request,
            Ok(Request::Subscribe {
                rooms: vec![5269],
                channels: vec!["1s".into()],
                history: true
            })
        );
        let p = parse(r#"{"op":"unsubscribe","rooms":[1],"channels":["status"]}"#);
        assert!(matches!(p.request, Ok(Request::Unsubscribe { .. })));
        let p = parse(r#"{"op":"subscribe","rooms":[1],"channels":["1m"],"history":false}"#);
        assert!(matches!(
            p.request,
            Ok(Request::Subscribe { history: false, .. })
        ));
        assert_eq!(
            parse(r#"{"op":"ping","req":"x"}"#).request,
            Ok(Request::Ping)
        );
    }

    #[test]
    fn bad_requests_get_their_codes() {
        assert_eq!(code("nope"), ErrorCode::BadJson);
        assert_eq!(code("[1,2]"), ErrorCode::BadJson);
        assert_eq!(code(r#"{"rooms":[1]}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"op":7}"#), ErrorCode::BadRequest);
        assert_eq!(code(r#"{"op":"dance"}"#), ErrorCode::UnknownOp);
        assert_eq!(
            code(r#"{"op":"subscribe","rooms":["a"],"channels":["1s"]}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"op":"subscribe","rooms":[-1],"channels":["1s"]}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"op":"subscribe","rooms":[],"channels":["1s"]}"#),
            ErrorCode::BadRequest
        );
        assert_eq!(
            code(r#"{"op":"subscribe","rooms":[1],"channels":["1s"],"x":1}"#),
            ErrorCode::BadRequest
        );
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn arbitrary_json_objects_never_panic(op in "[a-z]{0,12}", n in any::<i64>(), deep in 0usize..200) {
            let nested = "[".repeat(deep) + &"]".repeat(deep);
            let _ = parse(&format!(r#"{{"op":"{op}","rooms":[{n}],"channels":{nested}}}"#));
        }
    }
}
