use bilipulse_bilibili::commands::*;
#[test]
fn dump() {
    let dir = bilipulse_testkit::fixtures::dir().unwrap();
    for sub in ["messages", "messages-sanitized", "messages-redacted"] {
        for f in bilipulse_testkit::fixtures::files(&dir, sub, "json") {
            let body = std::fs::read(&f).unwrap();
            let r = normalize_detailed(5, &body, 1_790_000_100_000, "t");
            let name = f.strip_prefix(&dir).unwrap().display().to_string();
            match r {
                Err(e) => println!("ERR {name}: {e}"),
                Ok(n) => {
                    for e in &n.events {
                        let p = format!("{:?}", e.payload);
                        let p: String = p.chars().take(300).collect();
                        if e.kind() != bilipulse_proto::Kind::Other || n.malformed.is_some() {
                            println!("{name} | {} | ts={} id={} | {} | {:?}", e.cmd, e.ts, e.id, p, n.malformed);
                        }
                    }
                }
            }
        }
    }
}
