//! Any bytes as one op-5 command body: normalising must never panic; a body is either refused
//! with a typed error or turned into at least one event.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(events) =
        bilipulse_bilibili::commands::normalize(22608112, data, 1_780_000_000_000, "fuzz")
    {
        assert!(
            !events.is_empty(),
            "a command body yields at least one event"
        );
    }
});
