//! Throughput of the command normaliser over the real captures in the shared fixtures.
//!
//! `cargo bench -p bilipulse-bilibili --bench commands`; an element is one command body.
//! Every group runs twice: `wall/…` (criterion's wall clock) and `cpu/…` (this thread's CPU
//! time), because the development machine is shared and wall time there understates what
//! one core does. Groups:
//! * `danmaku`: the real `DANMU_MSG` bodies (~2 KB each, the bulk of a busy room's traffic);
//! * `typical_mix`: every real body once, danmaku weighted ×8, roughly a live room's mix;
//! * `all_fixtures`: every body once, including redacted ones.

use std::hint::black_box;
use std::path::Path;

use bilipulse_bilibili::commands::normalize;
use bilipulse_testkit::cpu::ThreadCpu;
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn load(dir: &Path, sub: &str) -> Vec<(String, Vec<u8>)> {
    bilipulse_testkit::fixtures::files(dir, sub, "json")
        .into_iter()
        .map(|p| {
            let cmd = p
                .parent()
                .and_then(|d| d.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (cmd, std::fs::read(&p).expect("fixture readable"))
        })
        .collect()
}

fn run<M: Measurement>(c: &mut Criterion<M>, name: &str, bodies: &[Vec<u8>]) {
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(bodies.len() as u64));
    let id = format!(
        "{} bodies, {} B avg",
        bodies.len(),
        bytes / bodies.len().max(1)
    );
    g.bench_function(id, |b| {
        b.iter(|| {
            for body in bodies {
                let events = normalize(5_561_470, black_box(body), 1_790_000_000_000, "bench");
                black_box(events.ok());
            }
        })
    });
    g.finish();
}

fn groups<M: Measurement>(c: &mut Criterion<M>, prefix: &str) {
    let Some(dir) = bilipulse_testkit::fixtures::dir() else {
        eprintln!("fixtures not found; nothing to measure");
        return;
    };
    let real: Vec<(String, Vec<u8>)> = ["messages", "messages-sanitized"]
        .iter()
        .flat_map(|s| load(&dir, s))
        .collect();
    let danmaku: Vec<Vec<u8>> = real
        .iter()
        .filter(|(cmd, _)| cmd == "DANMU_MSG")
        .map(|(_, b)| b.clone())
        .collect();
    let mut mix: Vec<Vec<u8>> = Vec::new();
    for (cmd, body) in &real {
        let weight = if cmd == "DANMU_MSG" { 8 } else { 1 };
        mix.extend(std::iter::repeat_n(body.clone(), weight));
    }
    let all: Vec<Vec<u8>> = real
        .into_iter()
        .map(|(_, b)| b)
        .chain(load(&dir, "messages-redacted").into_iter().map(|(_, b)| b))
        .collect();
    run(c, &format!("{prefix}/danmaku"), &danmaku);
    run(c, &format!("{prefix}/typical_mix"), &mix);
    run(c, &format!("{prefix}/all_fixtures"), &all);
}

fn wall(c: &mut Criterion) {
    groups(c, "wall");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    groups(c, "cpu");
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
