//! Scenario: every subject a service builds parses back to what it was built from, every
//! malformed subject is refused with the reason, and windows tile the time line exactly.

use bilipulse_proto::keygroup::KEY_GROUPS;
use bilipulse_proto::streams::{self, ALL_STREAMS};
use bilipulse_proto::subject::{self, Window};
use bilipulse_proto::{KeyGroup, Kind, Subject, SubjectError};
use proptest::prelude::*;

fn kind() -> impl Strategy<Value = Kind> {
    proptest::sample::select(Kind::ALL.to_vec())
}

fn room() -> impl Strategy<Value = u64> {
    prop_oneof![1..100_000_000_u64, 1..=u64::MAX, Just(u64::MAX)]
}

fn window() -> impl Strategy<Value = Window> {
    prop_oneof![
        1..=u32::MAX,
        1..=120_u32,
        (1..=1_000_u32).prop_map(|m| m * 60),
        (1..=1_000_u32).prop_map(|h| h * 3600),
    ]
    .prop_map(|s| Window::from_secs(s).expect("non-zero"))
}

fn any_subject() -> impl Strategy<Value = Subject> {
    prop_oneof![
        (room(), kind()).prop_map(|(room, kind)| Subject::Event { room, kind }),
        room().prop_map(|room| Subject::Raw { room }),
        room().prop_map(|room| Subject::RawFrame { room }),
        room().prop_map(|room| Subject::Status { room }),
        (room(), window()).prop_map(|(room, window)| Subject::Summary { room, window }),
        room().prop_map(|room| Subject::Session { room }),
    ]
}

fn key_group() -> impl Strategy<Value = KeyGroup> {
    (0..KEY_GROUPS).prop_map(|n| KeyGroup::new(n).expect("in range"))
}

/// NATS subject matching: `*` matches one token, a final `>` one or more.
fn matches(pattern: &str, subject: &str) -> bool {
    let mut subject = subject.split('.');
    for p in pattern.split('.') {
        match (p, subject.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (p, Some(t)) if p == t => {}
            _ => return false,
        }
    }
    subject.next().is_none()
}

/// The streams whose subjects capture `s`.
fn streams_of(s: &str) -> Vec<&'static str> {
    ALL_STREAMS
        .iter()
        .filter(|spec| spec.subjects.iter().any(|p| matches(p, s)))
        .map(|spec| spec.name)
        .collect()
}

/// What the builder function of `s`'s type produces.
fn built(s: Subject) -> String {
    match s {
        Subject::Event { room, kind } => subject::event(room, kind),
        Subject::Raw { room } => subject::raw(room),
        Subject::RawFrame { room } => subject::raw_frame(room),
        Subject::Status { room } => subject::status(room),
        Subject::Summary { room, window } => subject::summary(room, window),
        Subject::Session { room } => subject::session(room),
    }
}

/// The stream the contract stores `s` in.
fn stream_for(s: Subject) -> &'static str {
    match s {
        Subject::Event { .. } => streams::EVENTS.name,
        Subject::Raw { .. } => streams::RAW.name,
        Subject::RawFrame { .. } => streams::RAW_FRAMES.name,
        Subject::Status { .. } => streams::STATUS.name,
        Subject::Summary { .. } | Subject::Session { .. } => streams::SUMMARY.name,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_built_subject_parses_back(s in any_subject()) {
        let text = built(s);
        prop_assert_eq!(&text, &s.to_string(), "builder and Display agree");
        let parsed: Subject = text.parse().unwrap();
        prop_assert_eq!(parsed, s);
        prop_assert_eq!(parsed.room(), s.room());
    }

    /// Every subject is stored by exactly one stream, the one the contract names for it.
    #[test]
    fn every_built_subject_is_captured_by_exactly_its_stream(s in any_subject()) {
        prop_assert_eq!(streams_of(&built(s)), vec![stream_for(s)]);
    }

    #[test]
    fn built_summary_and_session_subjects_fall_under_their_wildcards(room in room(), window in window()) {
        let summary = subject::summary(room, window);
        prop_assert!(matches(subject::ALL_SUMMARIES, &summary));
        prop_assert!(matches(&subject::room_summaries(room), &summary));
        prop_assert!(!matches(&subject::room_summaries(room), &subject::session(room)));
        let session = subject::session(room);
        prop_assert!(matches(subject::ALL_SESSIONS, &session));
        prop_assert!(!matches(subject::ALL_SESSIONS, &summary));
        prop_assert!(!matches(subject::ALL_SUMMARIES, &session));
    }

    /// Checkpoints share `BILI_SUMMARY` with the summaries (one atomic batch holds both) but are
    /// not consumer subjects: they parse as no `Subject` and no consumer wildcard catches them.
    #[test]
    fn checkpoint_subjects_are_stored_with_the_summaries_and_hidden_from_consumers(group in key_group()) {
        let s = subject::checkpoint(group);
        prop_assert_eq!(&s, &format!("bili.wckpt.{}", group.index()));
        prop_assert_eq!(streams_of(&s), vec![streams::SUMMARY.name]);
        prop_assert_eq!(streams_of(&format!("{s}.part")), vec![streams::SUMMARY.name]);
        prop_assert_eq!(s.parse::<Subject>(), Err(SubjectError::UnknownType(s.clone())));
        for wildcard in [subject::ALL_SUMMARIES, subject::ALL_SESSIONS, subject::ALL_EVENTS] {
            prop_assert!(!matches(wildcard, &s), "{wildcard} catches {s}");
        }
    }

    #[test]
    fn built_event_subjects_fall_under_the_stream_and_room_wildcards(room in room(), kind in kind()) {
        let s = subject::event(room, kind);
        prop_assert!(s.starts_with(subject::ALL_EVENTS.trim_end_matches('>')));
        prop_assert!(s.starts_with(subject::room_events(room).trim_end_matches('*')));
        prop_assert_eq!(s.split('.').count(), 4);
    }

    #[test]
    fn every_window_has_exactly_one_spelling(w in window()) {
        let token = w.to_string();
        prop_assert_eq!(token.parse::<Window>().unwrap(), w);
        prop_assert_eq!(w.millis(), i64::from(w.secs()) * 1000);
    }

    /// Arbitrary text, any Unicode included, is either a subject or a typed error.
    #[test]
    fn parsing_arbitrary_text_never_panics(text in "(?s).{0,40}", tail in "\\PC{0,6}") {
        let _ = text.parse::<Subject>();
        let _ = text.parse::<Window>();
        let _ = format!("bili.summary.1.{tail}").parse::<Subject>();
        let _ = tail.parse::<Window>();
    }

    /// Tokens that parse are canonical: printing them gives the same text back.
    #[test]
    fn any_window_token_that_parses_is_canonical(n in 0..100_000_u64, unit in "[smhx]") {
        let token = format!("{n}{unit}");
        if let Ok(w) = token.parse::<Window>() {
            prop_assert_eq!(w.to_string(), token);
        }
    }

    /// The window containing `t` starts at or before it, ends after it, and is aligned.
    #[test]
    fn start_of_places_every_instant_in_its_aligned_window(
        w in window(),
        t in prop_oneof![-(1_i64 << 62)..(1_i64 << 62), -10_000_000..10_000_000_i64],
    ) {
        let start = w.start_of(t);
        prop_assert!(start <= t);
        prop_assert!(t < start + w.millis());
        prop_assert_eq!(start.rem_euclid(w.millis()), 0);
        prop_assert_eq!(w.start_of(start), start, "a start is its own window's start");
    }
}

#[test]
fn start_of_handles_instants_before_the_epoch() {
    let w = Window::S10;
    assert_eq!(w.start_of(-1), -10_000);
    assert_eq!(w.start_of(-10_000), -10_000);
    assert_eq!(w.start_of(-10_001), -20_000);
    assert_eq!(w.start_of(0), 0);
    assert_eq!(w.start_of(9_999), 0);
}

#[test]
fn start_of_does_not_overflow_at_the_ends_of_time() {
    for w in [
        Window::S1,
        Window::S10,
        Window::M1,
        Window::from_secs(u32::MAX).unwrap(),
    ] {
        // The aligned start below i64::MIN is not representable: it saturates, as documented.
        assert_eq!(w.start_of(i64::MIN), i64::MIN);
        let hi = w.start_of(i64::MAX);
        assert_eq!(hi.rem_euclid(w.millis()), 0);
        assert!(i64::MAX - hi < w.millis());
    }
}

#[test]
fn well_known_subjects_parse() {
    assert_eq!(
        "bili.event.21452505.danmaku".parse::<Subject>(),
        Ok(Subject::Event {
            room: 21_452_505,
            kind: Kind::Danmaku
        })
    );
    assert_eq!(
        "bili.raw.5269".parse::<Subject>(),
        Ok(Subject::Raw { room: 5269 })
    );
    assert_eq!(
        "bili.rawframe.5269".parse::<Subject>(),
        Ok(Subject::RawFrame { room: 5269 })
    );
    assert_eq!(
        "bili.status.5269".parse::<Subject>(),
        Ok(Subject::Status { room: 5269 })
    );
    assert_eq!(
        "bili.summary.5269.1m".parse::<Subject>(),
        Ok(Subject::Summary {
            room: 5269,
            window: Window::M1
        })
    );
    assert_eq!(
        "bili.session.21452505".parse::<Subject>(),
        Ok(Subject::Session { room: 21_452_505 })
    );
    assert_eq!(subject::session(21_452_505), "bili.session.21452505");
    assert_eq!(subject::room_summaries(5269), "bili.summary.5269.*");
    assert_eq!(
        subject::checkpoint(KeyGroup::new(7).unwrap()),
        "bili.wckpt.7"
    );
    assert_eq!("1h".parse::<Window>().map(Window::secs), Ok(3600));
}

#[track_caller]
fn refused(s: &str) -> SubjectError {
    s.parse::<Subject>().expect_err(s)
}

#[test]
fn subjects_outside_bili_are_refused() {
    for s in [
        "",
        "nats.event.1.danmaku",
        "BILI.event.1.danmaku",
        "bilibili.event.1.danmaku",
        ".bili.raw.1",
    ] {
        assert_eq!(refused(s), SubjectError::NotBilipulse(s.into()), "{s:?}");
    }
}

#[test]
fn unknown_subject_types_are_refused() {
    for s in [
        "bili",
        "bili.",
        "bili.events.1.danmaku",
        "bili.summaries.1.1s",
        "bili.sessions.1",
        "bili.wckpt.3",
        "bili.Event.1.danmaku",
        "bili..1",
    ] {
        assert_eq!(refused(s), SubjectError::UnknownType(s.into()), "{s:?}");
    }
}

#[test]
fn subjects_with_the_wrong_number_of_tokens_are_refused() {
    for s in [
        "bili.event",
        "bili.event.1",
        "bili.event.1.danmaku.extra",
        "bili.raw",
        "bili.raw.1.danmaku",
        "bili.rawframe",
        "bili.rawframe.1.x",
        "bili.status.1.x",
        "bili.summary.1",
        "bili.summary.1.1s.x",
        "bili.session",
        "bili.session.1.1m",
        "bili.session.1.x.y",
    ] {
        assert_eq!(refused(s), SubjectError::WrongShape(s.into()), "{s:?}");
    }
}

#[test]
fn room_tokens_that_are_not_canonical_room_ids_are_refused() {
    for room in [
        "0",
        "012",
        "-1",
        "+1",
        "abc",
        "",
        " 1",
        "1e3",
        "0x10",
        "18446744073709551616",
        "５２６９",
    ] {
        for s in [
            format!("bili.event.{room}.danmaku"),
            format!("bili.raw.{room}"),
            format!("bili.rawframe.{room}"),
            format!("bili.status.{room}"),
            format!("bili.summary.{room}.1s"),
            format!("bili.session.{room}"),
        ] {
            assert_eq!(
                refused(&s),
                SubjectError::BadRoom(s.clone(), room.into()),
                "{s:?}"
            );
        }
    }
}

#[test]
fn unknown_event_kinds_are_refused() {
    for kind in ["vote", "", "Danmaku", "*", ">", "danmaku "] {
        let s = format!("bili.event.5269.{kind}");
        assert_eq!(
            refused(&s),
            SubjectError::UnknownKind(s.clone(), kind.into()),
            "{s:?}"
        );
    }
}

#[test]
fn window_tokens_that_are_not_canonical_widths_are_refused() {
    for window in [
        "60s",
        "120s",
        "3600s",
        "60m",
        "0s",
        "0m",
        "10x",
        "10",
        "s",
        "",
        "01s",
        "-1s",
        "1,5s",
        "1秒",
        "1é",
        "4294967296s",
        "1193047h",
    ] {
        let s = format!("bili.summary.5269.{window}");
        assert_eq!(
            refused(&s),
            SubjectError::BadWindow(s.clone(), window.into()),
            "{s:?}"
        );
        assert!(window.parse::<Window>().is_err(), "{window:?}");
    }
}

#[test]
fn window_widths_of_zero_do_not_exist() {
    assert_eq!(Window::from_secs(0), None);
}
