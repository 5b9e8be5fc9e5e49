//! Any text frame a browser could send: parsing must never panic, and every frame is either a
//! request or a refusal with a code and a message to send back.

#![no_main]

use bilipulse_gateway::protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A WebSocket text frame is UTF-8 (tungstenite refuses others before the parser sees them).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = protocol::parse(text);
    if let Err((_code, message)) = &parsed.request {
        assert!(!message.is_empty(), "a refusal says why");
    }
});
