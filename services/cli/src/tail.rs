//! `bilipulse tail [SUBJECT]`: subscribe and print each message as one JSON line.
//!
//! This is how a person "subscribes from another tool" without writing code. Messages are decoded
//! by their subject: events, status and summaries with the contract types (so the JSON has
//! exactly the contract's field names), raw command bodies (one per
//! message, or a frame's in `bodies`) as the JSON they are. A message that
//! does not decode is printed with an `error` field and its bytes in hex, never dropped.

use std::io::Write;
use std::process::ExitCode;

use bilipulse_proto::{
    LiveSession, RawFrame, RoomEvent, RoomStatus, Subject, WindowSummary, subject,
};
use bilipulse_runtime::bus;
use bilipulse_runtime::config::NatsConfig;
use futures::StreamExt;
use serde_json::{Map, Value, json};

/// Flags of `bilipulse tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Subject to subscribe to (NATS wildcards allowed), e.g. 'bili.event.5269.>' or
    /// 'bili.summary.*.10s'.
    #[arg(default_value = subject::ALL_EVENTS, value_name = "SUBJECT")]
    pub subject: String,

    /// Exit after this many messages.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsConfig,
}

/// Runs `tail` until Ctrl-C or `--count` messages.
pub async fn run(args: TailArgs) -> anyhow::Result<ExitCode> {
    let client = bus::connect(&args.nats, "bilipulse-tail").await?;
    let mut sub = client.subscribe(args.subject.clone()).await?;
    client.flush().await?;
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m { Some(m) => m, None => break },
            _ = tokio::signal::ctrl_c() => break,
        };
        writeln!(out, "{}", render(msg.subject.as_str(), &msg.payload))?;
        out.flush()?;
        n += 1;
        if args.count.is_some_and(|c| n >= c) {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One message as a JSON line: `{"subject": …, <the message's fields>}`.
pub fn render(subject: &str, payload: &[u8]) -> String {
    let decoded: Result<Value, String> = match subject.parse::<Subject>() {
        Ok(Subject::Event { .. }) => to_json(bilipulse_proto::decode::<RoomEvent>(payload)),
        Ok(Subject::Status { .. }) => to_json(bilipulse_proto::decode::<RoomStatus>(payload)),
        Ok(Subject::Summary { .. }) => to_json(bilipulse_proto::decode::<WindowSummary>(payload)),
        Ok(Subject::Session { .. }) => to_json(bilipulse_proto::decode::<LiveSession>(payload)),
        Ok(Subject::Raw { .. }) => serde_json::from_slice::<Value>(payload)
            .map(|raw| json!({ "raw": raw }))
            .map_err(|e| format!("raw body is not JSON: {e}")),
        Ok(Subject::RawFrame { .. }) => bilipulse_proto::decode::<RawFrame>(payload)
            .map(|f| raw_frame_json(&f))
            .map_err(|e| e.to_string()),
        // Not one of ours: show it as generic MessagePack if it is that.
        Err(_) => rmpv::decode::read_value(&mut &payload[..])
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::to_value(&v).map_err(|e| e.to_string())),
    };
    let mut line = Map::new();
    line.insert("subject".into(), Value::String(subject.to_owned()));
    match decoded {
        Ok(Value::Object(fields)) => line.extend(fields),
        Ok(other) => {
            line.insert("message".into(), other);
        }
        Err(e) => {
            line.insert("error".into(), Value::String(e));
            line.insert(
                "hex".into(),
                Value::String(payload.iter().map(|b| format!("{b:02x}")).collect()),
            );
        }
    }
    Value::Object(line).to_string()
}

/// A raw frame with each of its bodies as the JSON it is, or, for a body that is not JSON,
/// `{"not_json": <its text>}`: nothing of the frame is left out.
fn raw_frame_json(f: &RawFrame) -> Value {
    let bodies: Vec<Value> = f
        .bodies
        .iter()
        .map(|b| match serde_json::from_slice::<Value>(b) {
            Ok(raw) => raw,
            Err(_) => json!({ "not_json": String::from_utf8_lossy(b) }),
        })
        .collect();
    json!({ "v": f.v, "room": f.room, "src": f.src, "recv": f.recv, "bodies": bodies })
}

fn to_json<T: serde::Serialize>(
    r: Result<T, bilipulse_proto::DecodeError>,
) -> Result<Value, String> {
    r.map_err(|e| e.to_string())
        .and_then(|m| serde_json::to_value(m).map_err(|e| e.to_string()))
}
