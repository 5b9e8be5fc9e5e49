//! Any bytes as every message of the contract: decoding must never panic, and the windower's
//! fast event decoder must agree with the generic one on every event both accept.

#![no_main]

use bilipulse_proto::{
    LiveSession, RoomConfig, RoomEvent, RoomStatus, WindowSummary, decode, decode_event,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let generic = decode::<RoomEvent>(data);
    let fast = decode_event(data);
    if let (Ok(generic), Ok(fast)) = (&generic, &fast) {
        // Compared through Debug: a NaN amount is the same NaN to both, but never `==`.
        assert_eq!(
            format!("{generic:?}"),
            format!("{fast:?}"),
            "the two event decoders disagree"
        );
    }
    let _ = decode::<WindowSummary>(data);
    let _ = decode::<LiveSession>(data);
    let _ = decode::<RoomStatus>(data);
    let _ = decode::<RoomConfig>(data);
});
