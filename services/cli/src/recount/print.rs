//! How `bilipulse recount` shows its results: JSON lines for scripts, a table for people, and
//! the skip counts on stderr so nothing is left out silently.

use std::io::{self, Write};
use std::time::{Duration, UNIX_EPOCH};

use bilipulse_proto::WindowSummary;
use serde_json::{Value, json};

use super::compare::{Comparison, Verdict, WindowDiff};
use super::read::Stored;
use super::tally::Recount;

/// Last millisecond humantime can format (9999-12-31T23:59:59.999Z).
const MAX_FORMATTABLE_MS: i64 = 253_402_300_799_999;

/// A Unix ms time as RFC 3339 UTC (whole seconds when it is one), or the bare number when it
/// is outside what RFC 3339 can write.
pub fn time(ms: i64) -> String {
    if !(0..=MAX_FORMATTABLE_MS).contains(&ms) {
        return ms.to_string();
    }
    let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
    if ms % 1000 == 0 {
        humantime::format_rfc3339_seconds(t).to_string()
    } else {
        humantime::format_rfc3339_millis(t).to_string()
    }
}

/// Every window as one JSON line with the `WindowSummary` field names.
pub fn json_lines(windows: &[WindowSummary], out: &mut dyn Write) -> io::Result<()> {
    for w in windows {
        writeln!(
            out,
            "{}",
            serde_json::to_string(w).map_err(io::Error::other)?
        )?;
    }
    Ok(())
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The windows as a table, one row per window; chatters counted by CRC32 are marked `*`.
pub fn table(windows: &[WindowSummary], out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>4} {:>6} {:>11} {:>7} {:>7} {:>6} {:>6} {:>9} {:>7} {:>5} {:>5}",
        "START (UTC)",
        "EVENTS",
        "DANMAKU",
        "LOTTERY",
        "CHATTERS",
        "GIFTS",
        "FREE",
        "SC",
        "GUARDS",
        "TOTAL CNY",
        "ENTERS",
        "FOLLOWS",
        "SHARES",
        "LIKES",
        "WATCHED",
        "ONLINE",
        "LIVE",
        "UNDEC"
    )?;
    for w in windows {
        let chatters = format!(
            "{}{}",
            w.chatters,
            if w.chatters_reliable { "" } else { "*" }
        );
        let live = match w.live {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        writeln!(
            out,
            "{:<20} {:>7} {:>7} {:>7} {:>8} {:>6} {:>6} {:>4} {:>6} {:>11.3} {:>7} {:>7} {:>6} {:>6} {:>9} {:>7} {:>5} {:>5}",
            time(w.start),
            w.events,
            w.danmaku,
            w.lottery_danmaku,
            chatters,
            w.gifts,
            w.free_gifts,
            w.superchats,
            w.guards,
            w.total_cny,
            w.enters,
            w.follows,
            w.shares,
            w.likes,
            opt(w.watched),
            opt(w.online_count),
            live,
            w.coverage.undecoded_gifts
        )?;
    }
    if windows.iter().any(|w| !w.chatters_reliable) {
        writeln!(
            out,
            "* identities were masked: chatters counted by uid CRC32, not by uid"
        )?;
    }
    Ok(())
}

/// The windows that disagree: one JSON line each with `json`, otherwise one readable line per
/// differing field or missing window.
pub fn comparison(cmp: &Comparison, json: bool, out: &mut dyn Write) -> io::Result<()> {
    for d in &cmp.diffs {
        if json {
            writeln!(out, "{}", diff_json(d))?;
            continue;
        }
        let at = time(d.start);
        match &d.verdict {
            Verdict::Disagree(fields) => {
                for f in fields {
                    writeln!(
                        out,
                        "{at}  {}: recounted {}, stored {}",
                        f.field, f.recounted, f.stored
                    )?;
                }
            }
            Verdict::MissingInSummary => writeln!(out, "{at}  missing in BILI_SUMMARY")?,
            Verdict::MissingInEvents => writeln!(out, "{at}  missing in BILI_EVENTS")?,
        }
    }
    Ok(())
}

fn diff_json(d: &WindowDiff) -> Value {
    let mut v = json!({ "start": d.start, "time": time(d.start) });
    match &d.verdict {
        Verdict::Disagree(fields) => v["fields"] = json!(fields),
        Verdict::MissingInSummary => v["missing_in"] = json!("BILI_SUMMARY"),
        Verdict::MissingInEvents => v["missing_in"] = json!("BILI_EVENTS"),
    }
    v
}

/// The closing line of `--compare`.
pub fn verdict_line(cmp: &Comparison) -> String {
    format!(
        "{} windows compared, {} disagree",
        cmp.compared,
        cmp.disagree()
    )
}

/// What was read and skipped, for stderr.
pub fn report(recount: &Recount, stored: Option<&Stored>, err: &mut dyn Write) -> io::Result<()> {
    let s = &recount.skipped;
    writeln!(
        err,
        "recount: read {} messages from BILI_EVENTS, counted {}, {} windows; skipped {}: \
         undecodable {}, newer_version {}, bad_subject {}, subject_mismatch {}, implausible_ts {}",
        recount.read,
        recount.read - s.total(),
        recount.windows.len(),
        s.total(),
        s.undecodable,
        s.newer_version,
        s.bad_subject,
        s.subject_mismatch,
        s.implausible_ts
    )?;
    if let Some(st) = stored {
        writeln!(
            err,
            "recount: read {} messages from BILI_SUMMARY, {} windows in range; skipped {} \
             (not a summary of this room and width)",
            st.read,
            st.summaries.len(),
            st.skipped
        )?;
    }
    Ok(())
}
