//! What both windower benchmarks feed on: the real captures, normalised.

use bilipulse_proto::{Payload, RoomEvent};

/// Every capture in `../shared/fixtures/bilibili/messages` normalised by the protocol library,
/// danmaku weighted ×8 (a live room's mix); empty when the fixtures are absent.
pub fn real_events() -> Vec<RoomEvent> {
    let Some(dir) = bilipulse_testkit::fixtures::dir() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for path in bilipulse_testkit::fixtures::files(&dir, "messages", "json") {
        let body = std::fs::read(&path).expect("fixture readable");
        let Ok(events) =
            bilipulse_bilibili::commands::normalize(1, &body, 1_790_000_000_000, "bench")
        else {
            continue;
        };
        let weight = if events
            .iter()
            .any(|e| matches!(e.payload, Payload::Danmaku(_)))
        {
            8
        } else {
            1
        };
        for _ in 0..weight {
            out.extend(events.iter().cloned());
        }
    }
    out
}
