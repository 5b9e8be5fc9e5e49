//! The figures as `deploy/bench.sh` writes them.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The client the chart is about; every other client is a peer.
pub const OURS: &str = "bilipulse";

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
    #[error("{path}:{line}: not a decode figure: {source}")]
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

/// Reads every non-empty line of `path` as a [`DecodeFigure`].
pub fn read_decode(path: &Path) -> Result<Vec<DecodeFigure>, FiguresError> {
    let text = std::fs::read_to_string(path).map_err(|source| FiguresError::Read {
        path: path.to_owned(),
        source,
    })?;
    let figures = parse_decode(&text).map_err(|(line, source)| FiguresError::Parse {
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
pub fn parse_decode(text: &str) -> Result<Vec<DecodeFigure>, (usize, serde_json::Error)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| (i + 1, e)))
        .collect()
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
        let f = parse_decode(LINES).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].case(), "flood, 1 conn");
        assert_eq!(best_peer(&f, &f[0]), Some(33840.0));
        let mut other = f[0].clone();
        other.conns = 50;
        assert_eq!(best_peer(&f, &other), None, "no peer ran that case");
    }

    #[test]
    fn a_bad_line_is_named() {
        let (line, _) = parse_decode("{\"client\":\"x\"}\n").unwrap_err();
        assert_eq!(line, 1);
        let (line, _) = parse_decode(&format!("{LINES}\nnot json\n")).unwrap_err();
        assert_eq!(line, 6);
    }
}
