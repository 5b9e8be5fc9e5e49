//! Shared by the proto scenario tests: the golden samples and the proptest strategies.
//!
//! Each test binary uses a different part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod arb;
pub mod samples;
