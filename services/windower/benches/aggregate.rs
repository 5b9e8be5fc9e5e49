//! Aggregation alone: events folded into a key group's windows (all default widths: 1s, 10s,
//! 1m, 1h), sessions and coverage, with windows released as stream time advances — no NATS,
//! no decoding. Target (docs/benchmarks.md): ≥ 5 M events per CPU-second.
//!
//! `cargo bench -p bilipulse-windower --bench aggregate`. The events are the real captures in
//! `../shared/fixtures/bilibili` normalised by the protocol library, spread over 100 rooms at
//! 10 000 events per second of event time, danmaku weighted ×8 (a live room's mix).

use std::hint::black_box;

use bilipulse_proto::{KeyGroup, Payload, RoomEvent};
use bilipulse_testkit::cpu::ThreadCpu;
use bilipulse_windower::group::GroupState;
use bilipulse_windower::room::Released;
use bilipulse_windower::settings::Settings;
use criterion::measurement::Measurement;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

mod common;
use common::real_events;

/// Events per second of event time in the generated stream.
const RATE: i64 = 10_000;
/// Rooms the events are spread over.
const ROOMS: u64 = 100;
/// Events per iteration.
const N: usize = 50_000;

/// `N` events over `ROOMS` rooms, in time order from `t0`, uids varied so chatters grow.
fn stream(real: &[RoomEvent], t0: i64) -> Vec<(RoomEvent, u64, i64)> {
    (0..N)
        .map(|i| {
            let mut ev = real[i % real.len()].clone();
            ev.room = 1_000 + (i as u64 * 7919) % ROOMS;
            ev.ts = t0 + i as i64 * 1000 / RATE;
            ev.recv = ev.ts;
            if let Payload::Danmaku(d) = &mut ev.payload {
                d.uid = 1 + (i as u64 * 2_654_435_761) % 5_000;
            }
            (ev, i as u64 + 1, t0 + i as i64 * 1000 / RATE)
        })
        .collect()
}

fn bench<M: Measurement>(c: &mut Criterion<M>, name: &str) {
    let real = real_events();
    if real.is_empty() {
        eprintln!("fixtures not found; nothing to measure");
        return;
    }
    let s = Settings::default();
    let events = stream(&real, 1_790_000_000_000);
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(
        format!("{N} events, {ROOMS} rooms, windows 1s/10s/1m/1h"),
        |b| {
            b.iter(|| {
                // All rooms in one key group: the group's map holds them all, as a busy group does.
                let mut group = GroupState::new(KeyGroup::of(1_000), 0);
                let mut out = Released::default();
                for (i, (ev, seq, stored)) in events.iter().enumerate() {
                    group.on_event(black_box(ev), *seq, *stored, &s, &mut out);
                    // A commit every 1 000 events (a tenth of a second of event time here).
                    if i % 1_000 == 999 {
                        group.release(&s, false, usize::MAX, &mut out);
                        black_box(&out);
                        out = Released::default();
                    }
                }
                black_box(group)
            })
        },
    );
    g.finish();
}

fn wall(c: &mut Criterion) {
    bench(c, "wall/aggregate");
}

fn cpu(c: &mut Criterion<ThreadCpu>) {
    bench(c, "cpu/aggregate");
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
