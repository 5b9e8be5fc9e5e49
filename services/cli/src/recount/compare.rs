//! Recounted windows against the summaries stored in `BILI_SUMMARY`, field by field.
//!
//! Compared: every field a recount can know from events alone. Not compared: `v` and `rev`
//! (bookkeeping), the coverage that comes from the ingesters' status reports (`connected_ms`,
//! `masked_ms`, `reconnects`, `lost_events`, `late_events`, `complete`), and the chatter count
//! (with its `chatters_estimated`/`chatters_error`) when the stored one is an estimate. Money in
//! CNY is compared exactly: both sides derive it from the same integer milli-yuan.

use std::collections::{BTreeMap, BTreeSet};

use bilipulse_proto::WindowSummary;
use serde::Serialize;
use serde_json::{Value, json};

/// One field on which a stored summary disagrees with the recount.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDiff {
    /// The field, as named in the contract (`coverage.undecoded_gifts` for nested ones).
    pub field: &'static str,
    /// What the recount found.
    pub recounted: Value,
    /// What `BILI_SUMMARY` holds.
    pub stored: Value,
}

/// How one window disagrees.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Both sides have the window; these fields differ.
    Disagree(Vec<FieldDiff>),
    /// The recount has the window, `BILI_SUMMARY` does not.
    MissingInSummary,
    /// `BILI_SUMMARY` has the window with events, the recount found none.
    MissingInEvents,
}

/// One window that disagrees.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDiff {
    /// Window start, Unix ms.
    pub start: i64,
    /// How it disagrees.
    pub verdict: Verdict,
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// Windows on either side (the union of their starts).
    pub compared: u64,
    /// The windows that disagree, ascending start.
    pub diffs: Vec<WindowDiff>,
}

impl Comparison {
    /// Windows that disagree (including those missing on one side).
    pub fn disagree(&self) -> u64 {
        self.diffs.len() as u64
    }
}

/// Compares recounted windows with the current stored summaries (keyed by start). A stored
/// summary with no events and no recounted window agrees: nothing happened on either side.
pub fn compare(recounted: &[WindowSummary], stored: &BTreeMap<i64, WindowSummary>) -> Comparison {
    let mine: BTreeMap<i64, &WindowSummary> = recounted.iter().map(|s| (s.start, s)).collect();
    let starts: BTreeSet<i64> = mine.keys().chain(stored.keys()).copied().collect();
    let mut out = Comparison {
        compared: starts.len() as u64,
        diffs: Vec::new(),
    };
    for start in starts {
        let verdict = match (mine.get(&start), stored.get(&start)) {
            (Some(r), Some(s)) => {
                let fields = field_diffs(r, s);
                if fields.is_empty() {
                    continue;
                }
                Verdict::Disagree(fields)
            }
            (Some(_), None) => Verdict::MissingInSummary,
            (None, Some(s)) if s.events == 0 => continue,
            (None, Some(_)) => Verdict::MissingInEvents,
            (None, None) => continue,
        };
        out.diffs.push(WindowDiff { start, verdict });
    }
    out
}

/// The compared fields on which `stored` differs from `recounted`.
pub fn field_diffs(recounted: &WindowSummary, stored: &WindowSummary) -> Vec<FieldDiff> {
    let with_chatters = !stored.chatters_estimated;
    compared_fields(recounted, with_chatters)
        .into_iter()
        .zip(compared_fields(stored, with_chatters))
        .filter(|((_, r), (_, s))| r != s)
        .map(|((field, recounted), (_, stored))| FieldDiff {
            field,
            recounted,
            stored,
        })
        .collect()
}

/// The compared fields of one summary, by name, always in the same order.
fn compared_fields(s: &WindowSummary, with_chatters: bool) -> Vec<(&'static str, Value)> {
    let mut f = vec![
        ("room", json!(s.room)),
        ("window", json!(s.window)),
        ("end", json!(s.end)),
        ("events", json!(s.events)),
        ("danmaku", json!(s.danmaku)),
        ("lottery_danmaku", json!(s.lottery_danmaku)),
        ("chatters_reliable", json!(s.chatters_reliable)),
    ];
    if with_chatters {
        f.push(("chatters", json!(s.chatters)));
        f.push(("chatters_estimated", json!(s.chatters_estimated)));
        f.push(("chatters_error", json!(s.chatters_error)));
    }
    f.extend([
        ("gifts", json!(s.gifts)),
        ("gift_mcny", json!(s.gift_mcny)),
        ("gift_cny", json!(s.gift_cny)),
        ("free_gifts", json!(s.free_gifts)),
        ("superchats", json!(s.superchats)),
        ("superchat_mcny", json!(s.superchat_mcny)),
        ("superchat_cny", json!(s.superchat_cny)),
        ("guards", json!(s.guards)),
        ("guard_mcny", json!(s.guard_mcny)),
        ("guard_cny", json!(s.guard_cny)),
        ("total_mcny", json!(s.total_mcny)),
        ("total_cny", json!(s.total_cny)),
        ("enters", json!(s.enters)),
        ("follows", json!(s.follows)),
        ("shares", json!(s.shares)),
        ("likes", json!(s.likes)),
        ("watched", json!(s.watched)),
        ("online_rank", json!(s.online_rank)),
        ("online_count", json!(s.online_count)),
        ("like_total", json!(s.like_total)),
        ("fans", json!(s.fans)),
        ("live", json!(s.live)),
        (
            "coverage.undecoded_gifts",
            json!(s.coverage.undecoded_gifts),
        ),
    ]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_764_000_000_000;
    const M: i64 = 60_000;

    fn minute(start: i64, events: u64) -> WindowSummary {
        WindowSummary {
            v: 1,
            room: 7,
            window: "1m".into(),
            start,
            end: start + M,
            events,
            chatters: 3,
            chatters_reliable: true,
            ..Default::default()
        }
    }

    #[test]
    fn names_each_differing_field_and_each_missing_window() {
        let recounted = vec![minute(T0, 5), minute(T0 + M, 1), minute(T0 + 2 * M, 2)];
        let mut wrong = minute(T0 + M, 1);
        wrong.gift_mcny = 1_000;
        wrong.gift_cny = 1.0;
        let stored = BTreeMap::from([
            (T0, minute(T0, 5)),
            (T0 + M, wrong),
            (T0 + 3 * M, minute(T0 + 3 * M, 0)),
            (T0 + 4 * M, minute(T0 + 4 * M, 4)),
        ]);
        let cmp = compare(&recounted, &stored);
        assert_eq!(cmp.compared, 5);
        let diff = |field, r: Value, s: Value| FieldDiff {
            field,
            recounted: r,
            stored: s,
        };
        assert_eq!(
            cmp.diffs,
            vec![
                WindowDiff {
                    start: T0 + M,
                    verdict: Verdict::Disagree(vec![
                        diff("gift_mcny", json!(0), json!(1_000)),
                        diff("gift_cny", json!(0.0), json!(1.0)),
                    ]),
                },
                WindowDiff {
                    start: T0 + 2 * M,
                    verdict: Verdict::MissingInSummary,
                },
                WindowDiff {
                    start: T0 + 4 * M,
                    verdict: Verdict::MissingInEvents,
                },
            ]
        );
        assert_eq!(cmp.disagree(), 3);
    }

    #[test]
    fn ignores_rev_status_coverage_and_estimated_chatters() {
        let mine = minute(T0, 5);
        let mut theirs = minute(T0, 5);
        theirs.rev = 4;
        theirs.v = 1;
        theirs.coverage.connected_ms = 60_000;
        theirs.coverage.masked_ms = 10;
        theirs.coverage.reconnects = 1;
        theirs.coverage.lost_events = 2;
        theirs.coverage.late_events = 3;
        theirs.coverage.complete = true;
        assert_eq!(field_diffs(&mine, &theirs), vec![]);
        theirs.chatters = 4;
        assert_eq!(field_diffs(&mine, &theirs).len(), 1);
        theirs.chatters_estimated = true;
        theirs.chatters_error = 0.016;
        assert_eq!(field_diffs(&mine, &theirs), vec![]);
        theirs.coverage.undecoded_gifts = 1;
        theirs.live = Some(false);
        let fields: Vec<_> = field_diffs(&mine, &theirs)
            .iter()
            .map(|d| d.field)
            .collect();
        assert_eq!(fields, vec!["live", "coverage.undecoded_gifts"]);
    }
}
