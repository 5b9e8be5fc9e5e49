//! Any bytes as the protobuf of each `*_V2` command (`data.pb`, base64 in the JSON body, as
//! Bilibili sends it): normalising must never panic; a body is either refused with a typed
//! error or turned into at least one event. The command parser's target rarely reaches the
//! protobuf decoder (it would have to invent valid base64 inside valid JSON); this one starts
//! there.

#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

const V2_COMMANDS: [&str; 2] = ["INTERACT_WORD_V2", "SEND_GIFT_V2"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, pb)) = data.split_first() else {
        return;
    };
    let cmd = V2_COMMANDS[usize::from(pick) % V2_COMMANDS.len()];
    let b64 = base64::engine::general_purpose::STANDARD.encode(pb);
    let body = format!(r#"{{"cmd":"{cmd}","data":{{"pb":"{b64}"}}}}"#);
    if let Ok(events) =
        bilipulse_bilibili::commands::normalize(22608112, body.as_bytes(), 1_780_000_000_000, "fuzz")
    {
        assert!(!events.is_empty(), "a command body yields at least one event");
    }
});
