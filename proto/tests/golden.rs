//! Scenario: the checked-in golden vectors in `tests/golden/` are the contract other teams
//! test against, so the encoding of the fixed samples must never drift silently.
//!
//! `BILIPULSE_BLESS=1 cargo test -p bilipulse-proto --test golden` rewrites the files after a
//! deliberate change; review the diff before committing it.

mod common;

use std::path::Path;

use bilipulse_proto::{Kind, RoomEvent, decode, mcny_to_cny};
use common::samples::{self, BEYOND_F64, Golden, Message, golden_dir};

fn blessing() -> bool {
    std::env::var("BILIPULSE_BLESS").is_ok_and(|v| v == "1")
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

/// The JSON twin as written to disk: pretty, keys sorted at every level. Sorting makes the
/// files independent of serde_json's `preserve_order` feature (which feature unification may
/// or may not switch on) and keeps re-blessing diffs to real changes.
fn pretty(json: &serde_json::Value) -> String {
    serde_json::to_string_pretty(&sorted(json)).expect("JSON values print") + "\n"
}

fn sorted(json: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match json {
        J::Object(o) => {
            let mut entries: Vec<_> = o.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            J::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        J::Array(a) => J::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[test]
fn the_encoding_of_every_sample_matches_its_golden_bytes() {
    let dir = golden_dir();
    let mut drift = Vec::new();
    for Golden { name, message } in samples::all() {
        let bytes = message.encode();
        let json = message.to_json();
        let bin_path = dir.join(format!("{name}.msgpack"));
        let json_path = dir.join(format!("{name}.json"));
        if blessing() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&bin_path, &bytes).unwrap();
            std::fs::write(&json_path, pretty(&json)).unwrap();
            continue;
        }
        match read(&bin_path) {
            Some(golden) if golden == bytes => {}
            Some(golden) => drift.push(format!(
                "{name}.msgpack: encoding drifted ({} bytes checked in, {} now)",
                golden.len(),
                bytes.len()
            )),
            None => drift.push(format!("{name}.msgpack: missing")),
        }
        match read(&json_path).map(|b| serde_json::from_slice::<serde_json::Value>(&b)) {
            Some(Ok(golden)) if golden == json => {}
            Some(Ok(_)) => drift.push(format!("{name}.json: differs from the sample")),
            Some(Err(e)) => drift.push(format!("{name}.json: not JSON: {e}")),
            None => drift.push(format!("{name}.json: missing")),
        }
    }
    assert!(
        drift.is_empty(),
        "golden vectors differ from the samples:\n  {}\nIf the change is deliberate (and \
         compatible, see proto/README.md), run BILIPULSE_BLESS=1 cargo test -p bilipulse-proto \
         --test golden and review the diff.",
        drift.join("\n  ")
    );
}

#[test]
fn every_golden_file_decodes_back_to_its_sample() {
    for Golden { name, message } in samples::all() {
        let bytes = read(&golden_dir().join(format!("{name}.msgpack")))
            .unwrap_or_else(|| panic!("{name}.msgpack missing (bless first)"));
        let decoded = message
            .decode_like(&bytes)
            .unwrap_or_else(|e| panic!("{name}.msgpack does not decode: {e}"));
        assert_eq!(decoded, message, "{name}.msgpack");
    }
}

/// The JSON twin is what Python and JS consumers compare against, so it must describe exactly
/// the map that is in the `.msgpack` file. Checked with a converter that does not use serde.
#[test]
fn each_json_twin_describes_the_same_map_as_its_msgpack() {
    for Golden { name, .. } in samples::all() {
        let bytes = read(&golden_dir().join(format!("{name}.msgpack"))).expect("msgpack present");
        let json = read(&golden_dir().join(format!("{name}.json"))).expect("json present");
        let json: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
        assert_eq!(msgpack_to_json(&value), json, "{name}");
    }
}

#[test]
fn there_is_one_golden_event_for_every_kind() {
    for kind in Kind::ALL {
        let path = golden_dir().join(format!("{}.msgpack", kind.as_str()));
        let bytes = read(&path).unwrap_or_else(|| panic!("{} missing", path.display()));
        let event: RoomEvent = decode(&bytes).unwrap();
        assert_eq!(event.kind(), kind, "{}", path.display());
    }
}

#[test]
fn the_golden_directory_holds_nothing_but_the_samples() {
    let names: Vec<String> = samples::all()
        .iter()
        .flat_map(|g| [format!("{}.msgpack", g.name), format!("{}.json", g.name)])
        .collect();
    for entry in std::fs::read_dir(golden_dir()).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            names.contains(&file),
            "stray golden file {file}: add a sample or delete it"
        );
    }
}

/// JavaScript consumers must really meet an integer a double cannot hold.
#[test]
fn the_golden_vectors_carry_an_integer_beyond_2_pow_53() {
    fn has(v: &serde_json::Value, n: u64) -> bool {
        match v {
            serde_json::Value::Number(x) => x.as_u64() == Some(n),
            serde_json::Value::Array(a) => a.iter().any(|x| has(x, n)),
            serde_json::Value::Object(o) => o.values().any(|x| has(x, n)),
            _ => false,
        }
    }
    const { assert!(BEYOND_F64 > 1 << 53) };
    let found = samples::all().iter().any(|g| {
        let json = read(&golden_dir().join(format!("{}.json", g.name))).expect("json present");
        has(&serde_json::from_slice(&json).unwrap(), BEYOND_F64)
    });
    assert!(found, "no golden JSON holds {BEYOND_F64}");
}

/// The golden summary and session are what other teams check their money handling against, so
/// their figures must be consistent: every CNY value is its milli-yuan value / 1000, totals add
/// up, and (in the JSON twin) the CNY values are the exact decimals, e.g. `52.0` for 52000.
#[test]
fn the_golden_money_is_exact_and_adds_up() {
    let json_of = |name: &str| -> serde_json::Value {
        let bytes = read(&golden_dir().join(format!("{name}.json"))).expect("json present");
        serde_json::from_slice(&bytes).unwrap()
    };
    let mut checked = 0;
    for Golden { name, message } in samples::all() {
        let json = json_of(name);
        let pairs: &[(&str, &str)] = &[
            ("gift_mcny", "gift_cny"),
            ("superchat_mcny", "superchat_cny"),
            ("guard_mcny", "guard_cny"),
            ("total_mcny", "total_cny"),
        ];
        let (parts, total) = match &message {
            Message::Summary(s) => (s.gift_mcny + s.superchat_mcny + s.guard_mcny, s.total_mcny),
            Message::Session(s) => {
                let spent: u64 = s.top_spenders.iter().map(|t| t.mcny).sum();
                assert_eq!(
                    spent, s.total_mcny,
                    "{name}: the spenders account for it all"
                );
                for (i, t) in s.top_spenders.iter().enumerate() {
                    assert_eq!(t.cny, mcny_to_cny(t.mcny), "{name}.top_spenders[{i}]");
                    assert_eq!(
                        json["top_spenders"][i]["cny"].to_string(),
                        decimal(t.mcny),
                        "{name}.top_spenders[{i}]"
                    );
                }
                (s.gift_mcny + s.superchat_mcny + s.guard_mcny, s.total_mcny)
            }
            _ => continue,
        };
        assert_eq!(parts, total, "{name}: total_mcny is the sum of its parts");
        for (mcny, cny) in pairs {
            let m = json[mcny]
                .as_u64()
                .unwrap_or_else(|| panic!("{name}.{mcny} is an integer"));
            assert!(json[cny].is_f64(), "{name}.{cny} is a float");
            assert_eq!(json[cny].as_f64(), Some(mcny_to_cny(m)), "{name}.{cny}");
            assert_eq!(
                json[cny].to_string(),
                decimal(m),
                "{name}.{cny} prints exactly"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2, "a window summary and a live session");
}

/// `mcny` milli-yuan as the shortest decimal of yuan: 52000 → `52.0`, 15500 → `15.5`.
fn decimal(mcny: u64) -> String {
    let (yuan, frac) = (mcny / 1000, mcny % 1000);
    let frac = format!("{frac:03}");
    let frac = frac.trim_end_matches('0');
    format!("{yuan}.{}", if frac.is_empty() { "0" } else { frac })
}

/// MessagePack to JSON, by hand: integers stay integers (exact), floats stay floats.
fn msgpack_to_json(v: &rmpv::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        rmpv::Value::Nil => J::Null,
        rmpv::Value::Boolean(b) => J::Bool(*b),
        rmpv::Value::Integer(i) => match (i.as_u64(), i.as_i64()) {
            (Some(u), _) => J::from(u),
            (None, Some(s)) => J::from(s),
            (None, None) => unreachable!("a msgpack integer is u64 or i64"),
        },
        rmpv::Value::F32(f) => J::from(f64::from(*f)),
        rmpv::Value::F64(f) => J::from(*f),
        rmpv::Value::String(s) => {
            J::String(s.as_str().expect("golden strings are UTF-8").to_owned())
        }
        rmpv::Value::Array(a) => J::Array(a.iter().map(msgpack_to_json).collect()),
        // A raw frame's bodies: the twin lists the bytes, as serde writes a byte buffer.
        rmpv::Value::Binary(b) => J::Array(b.iter().map(|&x| J::from(x)).collect()),
        rmpv::Value::Map(m) => J::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.as_str().expect("keys are strings").to_owned(),
                        msgpack_to_json(v),
                    )
                })
                .collect(),
        ),
        other => panic!("the contract uses no {other:?}"),
    }
}
