//! [`Settings`]: the aggregation rules one windower applies, from its flags.
//!
//! Every replica of a deployment must run with the same settings: a key group's checkpoint
//! moves between replicas, and windows it holds were opened under these rules.

use bilipulse_proto::subject::Window;

/// Aggregation rules (see `Config` for what each means).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Window widths, ascending, without repeats.
    pub windows: Vec<Window>,
    /// Allowed lateness, ms.
    pub lateness_ms: i64,
    /// Revision horizon after a window's close, ms.
    pub revise_ms: i64,
    /// Windows narrower than this are published only when something happened.
    pub sparse_below: Window,
    /// Exact distinct-set limit.
    pub exact_distinct: usize,
    /// Narrowest window allowed to switch to a sketch.
    pub sketch_from: Window,
    /// Session merge gap, ms.
    pub merge_gap_ms: i64,
    /// Running-session publication interval, ms.
    pub session_interval_ms: i64,
    /// Viewers tracked one by one for a session's top lists.
    pub top_capacity: usize,
    /// How long a connection counts as alive after its last evidence, ms.
    pub status_timeout_ms: i64,
}

impl Default for Settings {
    /// The flags' defaults.
    fn default() -> Self {
        Settings {
            windows: vec![
                Window::S1,
                Window::S10,
                Window::M1,
                Window::from_secs(3600).expect("1h"),
            ],
            lateness_ms: 3_000,
            revise_ms: 60_000,
            sparse_below: Window::M1,
            exact_distinct: 50_000,
            sketch_from: Window::from_secs(3600).expect("1h"),
            merge_gap_ms: 300_000,
            session_interval_ms: 60_000,
            top_capacity: 2048,
            status_timeout_ms: 15_000,
        }
    }
}

impl Settings {
    /// The exact-set limit for a window of `width`: `None` (never estimate) below
    /// `sketch_from`.
    pub fn distinct_limit(&self, width: Window) -> Option<usize> {
        (width >= self.sketch_from).then_some(self.exact_distinct)
    }

    /// The widest window, ms: how far back state must reach.
    pub fn widest_ms(&self) -> i64 {
        self.windows.iter().map(|w| w.millis()).max().unwrap_or(0)
    }
}
