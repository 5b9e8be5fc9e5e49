//! The figures as `deploy/bench.sh` writes them.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::plot::{Bar, BarChart};

/// The client the decode chart is about; every other client is a peer.
pub const OURS: &str = "bilipulse";

/// The system the windows chart is about.
pub const OUR_WINDOWER: &str = "windower";

/// One decode measurement: one client on one case (the fields the chart uses; the others of
/// the line are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DecodeFigure {
    /// `bilipulse`, `bilibili-live-ws` or `blivedm`.
    pub client: String,
    /// `flood` or `rate-1000`.
    pub mode: String,
    /// WebSocket connections.
    pub conns: u32,
    /// Commands per CPU-second (user + system), start-up included.
    pub msgs_per_cpu_s: Option<f64>,
}

impl DecodeFigure {
    /// The case label: `flood, 1 conn`.
    pub fn case(&self) -> String {
        let conns = if self.conns == 1 { "conn" } else { "conns" };
        format!("{}, {} {conns}", self.mode, self.conns)
    }
}

/// One windowed-counting measurement: one system on the shared event log (`deploy/bench.sh
/// windows`; the fields the chart uses).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WindowsFigure {
    /// `windower`, `redis_timeseries` or `bytewax`.
    pub system: String,
    /// Events per CPU-second of the counting process.
    pub events_per_cpu_s: f64,
    /// Events per CPU-second of the counting process and the store it reads or writes.
    pub events_per_cpu_s_with_store: f64,
    /// Whether its 1 s windows equal the truth (`None`: not checked).
    pub right_1s: Option<bool>,
    /// Whether its 10 s windows equal the truth.
    pub right_10s: Option<bool>,
}

impl WindowsFigure {
    /// The legend entry: the system and its verdicts.
    fn legend(&self) -> String {
        let verdict = |r: Option<bool>| match r {
            Some(true) => "right",
            Some(false) => "WRONG",
            None => "unchecked",
        };
        format!(
            "{}: 1 s {}, 10 s {}",
            self.system,
            verdict(self.right_1s),
            verdict(self.right_10s)
        )
    }
}

/// Why the figures could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FiguresError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not a figure.
    #[error("{path}:{line}: not a figure of this chart: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why.
        source: serde_json::Error,
    },
    /// Nothing to draw.
    #[error("{0}: no figures")]
    Empty(PathBuf),
}

/// Reads every non-empty line of `path` as a figure.
pub fn read_figures<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, FiguresError> {
    let text = std::fs::read_to_string(path).map_err(|source| FiguresError::Read {
        path: path.to_owned(),
        source,
    })?;
    let figures = parse_lines(&text).map_err(|(line, source)| FiguresError::Parse {
        path: path.to_owned(),
        line,
        source,
    })?;
    if figures.is_empty() {
        return Err(FiguresError::Empty(path.to_owned()));
    }
    Ok(figures)
}

/// Parses JSON lines, skipping blank ones; the error carries the 1-based line number.
pub fn parse_lines<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, (usize, serde_json::Error)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| (i + 1, e)))
        .collect()
}

/// The decode chart: commands per CPU-second, a group per case, bilipulse's bar first in each
/// and labelled with its ratio to the case's best peer.
pub fn decode_chart(figures: &[DecodeFigure]) -> BarChart {
    let mut cases: Vec<String> = Vec::new();
    for f in figures {
        if !cases.contains(&f.case()) {
            cases.push(f.case());
        }
    }
    let mut bars = Vec::new();
    for case in &cases {
        let mut in_case: Vec<&DecodeFigure> =
            figures.iter().filter(|f| &f.case() == case).collect();
        in_case.sort_by_key(|f| f.client != OURS);
        for f in in_case {
            let Some(v) = f.msgs_per_cpu_s else { continue };
            let label = match best_peer(figures, f) {
                Some(best) if f.client == OURS && best > 0.0 => {
                    format!("{:.0} k ({:.1}×)", v / 1000.0, v / best)
                }
                _ => format!("{:.0} k", v / 1000.0),
            };
            bars.push(Bar {
                group: case.clone(),
                series: f.client.clone(),
                value: v,
                label,
            });
        }
    }
    BarChart {
        title: "Decoding real Bilibili commands: commands per CPU-second".into(),
        y_desc: "commands per CPU-second (user + system)".into(),
        bars,
    }
}

/// The windows chart: events per CPU-second of each system, alone and with its store, the
/// windower first, each system's verdicts in its legend entry.
pub fn windows_chart(figures: &[WindowsFigure]) -> BarChart {
    let mut ordered: Vec<&WindowsFigure> = figures.iter().collect();
    ordered.sort_by_key(|f| f.system != OUR_WINDOWER);
    let mut bars = Vec::new();
    for (group, value) in [
        (
            "counting process",
            (|f: &WindowsFigure| f.events_per_cpu_s) as fn(&WindowsFigure) -> f64,
        ),
        ("with its store (nats-server / redis-server)", |f| {
            f.events_per_cpu_s_with_store
        }),
    ] {
        for f in &ordered {
            let v = value(f);
            bars.push(Bar {
                group: group.into(),
                series: f.legend(),
                value: v,
                label: format!("{:.0} k", v / 1000.0),
            });
        }
    }
    BarChart {
        title: "Counting one event log in 1 s and 10 s windows: events per CPU-second".into(),
        y_desc: "events per CPU-second (user + system)".into(),
        bars,
    }
}

/// The best peer's commands per CPU-second in the case of `f` (every client but [`OURS`]).
pub fn best_peer(figures: &[DecodeFigure], f: &DecodeFigure) -> Option<f64> {
    figures
        .iter()
        .filter(|g| g.client != OURS && g.mode == f.mode && g.conns == f.conns)
        .filter_map(|g| g.msgs_per_cpu_s)
        .reduce(f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"{"client":"bilipulse","mode":"flood","conns":1,"messages":200000,"cpu_s":1.73,"wall_s":2.0,"max_rss_kib":14848,"msgs_per_cpu_s":115606}

{"client":"bilibili-live-ws","mode":"flood","conns":1,"messages":200000,"cpu_s":5.91,"wall_s":6.0,"max_rss_kib":272179,"msgs_per_cpu_s":33840}
{"client":"blivedm","mode":"flood","conns":1,"messages":200000,"cpu_s":14.16,"wall_s":15.0,"max_rss_kib":38809,"msgs_per_cpu_s":14124}
"#;

    #[test]
    fn lines_parse_and_the_best_peer_is_per_case() {
        let f: Vec<DecodeFigure> = parse_lines(LINES).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].case(), "flood, 1 conn");
        assert_eq!(best_peer(&f, &f[0]), Some(33840.0));
        let mut other = f[0].clone();
        other.conns = 50;
        assert_eq!(best_peer(&f, &other), None, "no peer ran that case");
    }

    #[test]
    fn a_bad_line_is_named() {
        let (line, _) = parse_lines::<DecodeFigure>("{\"client\":\"x\"}\n").unwrap_err();
        assert_eq!(line, 1);
        let (line, _) = parse_lines::<DecodeFigure>(&format!("{LINES}\nnot json\n")).unwrap_err();
        assert_eq!(line, 6);
    }

    #[test]
    fn the_decode_chart_puts_bilipulse_first_with_its_ratio() {
        let mut f: Vec<DecodeFigure> = parse_lines(LINES).unwrap();
        f.rotate_left(1); // bilipulse last in the file
        let chart = decode_chart(&f);
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[0].series, OURS);
        assert_eq!(chart.bars[0].label, "116 k (3.4×)");
        assert_eq!(chart.bars[1].label, "34 k");
    }

    #[test]
    fn the_windows_chart_has_two_groups_and_verdicts_in_the_legend() {
        let text = r#"{"system":"bytewax","events":10,"cpu_s":1,"events_per_cpu_s":10,"events_per_cpu_s_with_store":10,"right_1s":true,"right_10s":true}
{"system":"windower","events":10,"cpu_s":0.1,"events_per_cpu_s":100,"events_per_cpu_s_with_store":50,"right_1s":true,"right_10s":false}
"#;
        let f: Vec<WindowsFigure> = parse_lines(text).unwrap();
        let chart = windows_chart(&f);
        assert_eq!(chart.bars.len(), 4);
        assert_eq!(chart.bars[0].series, "windower: 1 s right, 10 s WRONG");
        assert_eq!(chart.bars[0].value, 100.0);
        assert_eq!(chart.bars[2].value, 50.0, "the windower with its store");
        assert_ne!(chart.bars[0].group, chart.bars[2].group);
    }
}
