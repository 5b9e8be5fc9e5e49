//! The simulator's own throughput, without sockets: generate, render and compress as fast as
//! the machine allows, to know how much load it can put on an ingester.

use std::time::Instant;

use serde::Serialize;

use crate::batch::{Encoding, Packer};
use crate::config::SimConfig;
use crate::error::SimError;
use crate::rooms::Directory;
use crate::traffic::{Fanout, Generator, for_each_parallel, timing};

/// What one benchmark run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Rooms simulated.
    pub rooms: usize,
    /// Virtual seconds of traffic produced.
    pub virtual_secs: f64,
    /// Commands produced.
    pub commands: u64,
    /// Wall-clock seconds spent generating events (structured, before rendering).
    pub generate_secs: f64,
    /// Wall-clock seconds spent in total (generate + render + compress).
    pub wall_secs: f64,
    /// Worker threads used for rendering and compression.
    pub workers: usize,
    /// `commands / wall_secs`: the sustainable command rate.
    pub commands_per_sec: f64,
    /// Rendered JSON bytes (one variant).
    pub json_bytes: u64,
    /// Bytes after packing/compression, summed over the benchmarked groups.
    pub wire_bytes: u64,
    /// WebSocket messages produced, summed over groups.
    pub messages: u64,
}

/// Runs `virtual_secs` of the configured rooms' traffic through generation, rendering and
/// packing for each `(masked, protover)` group, as fast as possible.
pub fn run(
    cfg: &SimConfig,
    virtual_secs: f64,
    groups: &[(bool, u16)],
) -> Result<BenchReport, SimError> {
    let dir = Directory::build(cfg)?;
    let mut generator = Generator::new(&dir, timing(cfg));
    let packer = Packer::for_config(cfg);
    let mut fanouts: Vec<Fanout> = (0..cfg.workers.max(1))
        .map(|i| Fanout::new(packer, cfg.seed ^ i as u64))
        .collect();
    let mut groups: Vec<(bool, Encoding)> = groups
        .iter()
        .map(|(m, p)| (*m, Encoding::from_protover(Some(u64::from(*p)), 0)))
        .collect();
    groups.sort();
    groups.dedup();
    let tick_us = cfg.tick_ms.max(1) * 1000;
    let end_us = (virtual_secs.max(0.0) * 1e6) as u64;
    let base_ms = crate::clock::unix_ms();
    let mut report = BenchReport {
        rooms: dir.rooms.len(),
        virtual_secs,
        commands: 0,
        generate_secs: 0.0,
        wall_secs: 0.0,
        workers: cfg.workers.max(1),
        commands_per_sec: 0.0,
        json_bytes: 0,
        wire_bytes: 0,
        messages: 0,
    };
    let start = Instant::now();
    let mut vt = 0;
    while vt < end_us {
        vt += tick_us;
        let g = Instant::now();
        generator.advance(vt, base_ms);
        let ticks = generator.drain();
        report.generate_secs += g.elapsed().as_secs_f64();
        let dir_ref = &dir;
        let groups_ref = &groups;
        let sizes = for_each_parallel(&mut fanouts, ticks, &|fo, idx, events| {
            let frames = fo.frames(&dir_ref.rooms[idx], &events, groups_ref);
            let messages: u64 = frames.iter().map(|f| f.len() as u64).sum();
            let wire: u64 = frames
                .iter()
                .flat_map(|f| f.iter())
                .map(|b| b.len() as u64)
                .sum();
            (events.len() as u64, fo.last_json_bytes(), wire, messages)
        });
        for (commands, json, wire, messages) in sizes {
            report.commands += commands;
            report.json_bytes += json;
            report.wire_bytes += wire;
            report.messages += messages;
        }
    }
    report.wall_secs = start.elapsed().as_secs_f64();
    report.commands_per_sec = report.commands as f64 / report.wall_secs.max(1e-9);
    Ok(report)
}
