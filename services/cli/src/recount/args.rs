//! The `bilipulse recount` command line: flags, time parsing and the run that prints.

use std::io::Write;
use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use bilipulse_proto::Window;
use bilipulse_runtime::bus;
use bilipulse_runtime::config::NatsConfig;

use super::{Range, RecountError, compare, print, recount, stored_summaries};

/// Shown after `bilipulse recount --help`: what the exit status says.
pub const AFTER_HELP: &str = "\
Exit status: 0 when the recount succeeded (with --compare: every window agrees); 1 with \
--compare when any window disagrees or is missing on one side; 2 when the recount could not be \
made (NATS unreachable, stream missing, bad flags).

Not compared (BILI_EVENTS cannot tell them): rev, the coverage from status reports \
(connected_ms, masked_ms, reconnects, lost_events, late_events, complete; printed as 0/false), \
and chatters where the stored summary is an estimate.";

/// Flags of `bilipulse recount`.
#[derive(Debug, clap::Args)]
pub struct RecountArgs {
    /// Real room id (not a short id) whose events to recount.
    #[arg(long, value_name = "ROOM", value_parser = clap::value_parser!(u64).range(1..))]
    pub room: u64,

    /// Window width, as in the summary subjects: 1s, 10s, 1m, 1h …
    #[arg(long, value_name = "WIDTH", default_value = "1m")]
    pub window: Window,

    /// Keep windows starting at or after this time: RFC 3339 (2025-11-24T16:00:00Z,
    /// 2025-11-25T00:00:00+08:00) or Unix milliseconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<i64>,

    /// Keep windows starting before this time (same forms as --from).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<i64>,

    /// One JSON object per line (the WindowSummary fields) instead of a table; with --compare,
    /// one JSON object per disagreeing window, and the closing count goes to stderr.
    #[arg(long)]
    pub json: bool,

    /// Also read BILI_SUMMARY (highest rev per window) and print every window that disagrees
    /// with the recount, field by field, then "N windows compared, M disagree"; exit status 1
    /// if any does.
    #[arg(long)]
    pub compare: bool,

    /// With --compare, leave out windows that ended less than this long ago: the windower
    /// releases a window only after its allowed lateness and the next commit, so a younger
    /// window missing from BILI_SUMMARY is not yet due, not lost.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = bilipulse_runtime::config::parse_duration)]
    pub settle: std::time::Duration,

    /// How to reach NATS.
    #[command(flatten)]
    pub nats: NatsConfig,
}

/// Parses `--from`/`--to`: Unix milliseconds, or RFC 3339 with `Z` or a `±HH:MM` offset
/// (fractions of a second allowed; anything after the millisecond is dropped).
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|e| format!("{s:?}: {e}"));
    }
    let bad = |why: &str| format!("{s:?} is neither Unix milliseconds nor RFC 3339 ({why})");
    let (local, offset_min) = split_offset(s).ok_or_else(|| bad("no Z or ±HH:MM offset"))?;
    let mut utc = local.to_owned();
    if utc.get(10..11) == Some("t") {
        utc.replace_range(10..11, "T");
    }
    utc.push('Z');
    let t = humantime::parse_rfc3339(&utc).map_err(|e| bad(&e.to_string()))?;
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| bad("before 1970"))?
        .as_millis();
    let ms = i64::try_from(ms).map_err(|_| bad("too far ahead"))?;
    Ok(ms - offset_min * 60_000)
}

/// Splits an RFC 3339 time into its local part and its offset from UTC in minutes.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(local) = s.strip_suffix(['Z', 'z']) {
        return Some((local, 0));
    }
    let at = s.len().checked_sub(6)?;
    let tail = s.get(at..)?.as_bytes();
    let sign = match tail[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let two = |a: u8, b: u8| {
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
    };
    let (h, m) = (two(tail[1], tail[2])?, two(tail[4], tail[5])?);
    if tail[3] != b':' || h > 23 || m > 59 {
        return None;
    }
    Some((&s[..at], sign * (h * 60 + m)))
}

/// Runs `recount`. Recount failures are reported here with exit status 2, so that 1 keeps
/// meaning "disagrees"; only output errors go up (a closed pipe is not worth a message).
pub async fn run(args: RecountArgs) -> anyhow::Result<ExitCode> {
    match execute(args).await {
        Ok(code) => Ok(code),
        Err(RecountError::Output(e)) => Err(e.into()),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}

async fn execute(args: RecountArgs) -> Result<ExitCode, RecountError> {
    let mut range = Range {
        from: args.from,
        to: args.to,
    };
    if args.compare {
        // Only windows with `end <= now - settle`, i.e. `start < now - settle - width + 1`.
        let settle = i64::try_from(args.settle.as_millis()).unwrap_or(i64::MAX);
        let due = bilipulse_runtime::clock::now_ms()
            .saturating_sub(settle)
            .saturating_sub(args.window.millis())
            .saturating_add(1);
        range.to = Some(range.to.map_or(due, |t| t.min(due)));
    }
    range.check()?;
    let client = bus::connect(&args.nats, "bilipulse-recount").await?;
    let js = bus::jetstream(client);
    let recounted = recount(&js, args.room, args.window, range).await?;
    let stored = if args.compare {
        Some(stored_summaries(&js, args.room, args.window, range).await?)
    } else {
        None
    };
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let Some(stored) = stored else {
        if args.json {
            print::json_lines(&recounted.windows, &mut out)?;
        } else {
            print::table(&recounted.windows, &mut out)?;
        }
        out.flush()?;
        print::report(&recounted, None, &mut err)?;
        return Ok(ExitCode::SUCCESS);
    };
    let cmp = compare(&recounted.windows, &stored.summaries);
    print::comparison(&cmp, args.json, &mut out)?;
    // Under --json stdout stays pure JSON lines; the count goes with the other notes.
    let closing: &mut dyn Write = if args.json { &mut err } else { &mut out };
    writeln!(closing, "{}", print::verdict_line(&cmp))?;
    out.flush()?;
    print::report(&recounted, Some(&stored), &mut err)?;
    Ok(if cmp.disagree() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times_are_unix_ms_or_rfc3339_with_an_offset() {
        let t = 1_764_000_000_000;
        assert_eq!(parse_time("1764000000000"), Ok(t));
        assert_eq!(parse_time("2025-11-24T16:00:00Z"), Ok(t));
        assert_eq!(parse_time("2025-11-24t16:00:00z"), Ok(t));
        assert_eq!(parse_time("2025-11-24T16:00:00.250Z"), Ok(t + 250));
        assert_eq!(parse_time("2025-11-25T00:00:00+08:00"), Ok(t));
        assert_eq!(parse_time("2025-11-24T16:00:00+00:00"), Ok(t));
        assert_eq!(parse_time("2025-11-24T10:30:00.5-05:30"), Ok(t + 500));
        for bad in [
            "",
            "2025-11-24T16:00:00",
            "2025-11-24T16:00:00+8:00",
            "2025-11-24T16:00:00+24:00",
            "yesterday",
            "1969-12-31T23:59:59Z",
            "2025-13-01T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} should not parse");
        }
    }
}
