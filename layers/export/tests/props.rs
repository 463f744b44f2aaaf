//! Property tests: spool file names and contents, `Retry-After` parsing, redirect URLs and
//! answer bodies never panic, and what is written reads back.

mod common;

use common::http_date;
use proptest::prelude::*;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_insights_export::answer::{
    classify, parse_http_date, parse_retry_after, MAX_RETRY_AFTER,
};
use tracing_insights_export::redirect::{follow, split_url};
use tracing_insights_export::spool::{decode, encode, parse_name, BlobName};

proptest! {
    #[test]
    fn spool_names_round_trip(
        created_ms in 0u64..10_000_000_000_000,
        id in any::<u64>(),
        lease in proptest::option::of(0u64..10_000_000_000_000),
        tmp in any::<bool>(),
    ) {
        let name = BlobName { created_ms, id, lease_until_ms: if tmp { None } else { lease }, tmp };
        prop_assert_eq!(parse_name(&name.file_name()), Some(name));
    }

    #[test]
    fn spool_names_never_panic(s in "\\PC{0,60}") {
        let _ = parse_name(&s);
    }

    #[test]
    fn spool_names_in_spool_alphabet_never_panic(s in "[0-9a-f.@-]{0,20}(blob|lock|tmp)") {
        let _ = parse_name(&s);
    }

    #[test]
    fn spool_contents_round_trip(items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
        prop_assert_eq!(decode(&encode(&items)), Some(items));
    }

    #[test]
    fn torn_spool_contents_are_refused(
        items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..10),
        cut in any::<prop::sample::Index>(),
    ) {
        let full = encode(&items);
        let at = cut.index(full.len());
        prop_assert_eq!(decode(&full[..at]), None);
    }

    #[test]
    fn corrupt_spool_contents_never_panic_and_are_not_taken_for_the_original(
        items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..10),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut data = encode(&items);
        let i = at.index(data.len());
        if data[i] != byte {
            data[i] = byte;
            prop_assert_ne!(decode(&data), Some(items));
        }
    }

    #[test]
    fn arbitrary_spool_contents_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = decode(&data);
        let mut with_magic = b"tracing-insights-spool 1\n".to_vec();
        with_magic.extend_from_slice(&data);
        let _ = decode(&with_magic);
    }

    #[test]
    fn retry_after_never_panics_and_is_bounded(v in "\\PC{0,40}", now_s in 0u64..5_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(now_s);
        if let Some(d) = parse_retry_after(&v, now) {
            prop_assert!(d > Duration::ZERO && d <= MAX_RETRY_AFTER);
        }
        let _ = parse_http_date(&v);
    }

    #[test]
    fn retry_after_seconds(s in 1u64..3600) {
        prop_assert_eq!(parse_retry_after(&s.to_string(), SystemTime::now()), Some(Duration::from_secs(s)));
    }

    #[test]
    fn retry_after_dates(ahead in 1u64..3000, base in 0u64..4_000_000_000) {
        let now = UNIX_EPOCH + Duration::from_secs(base);
        let date = http_date(base + ahead);
        prop_assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(ahead)), "{}", date);
    }

    #[test]
    fn redirect_urls_never_panic(cur in "\\PC{0,50}", loc in proptest::option::of("\\PC{0,50}")) {
        let _ = split_url(&cur);
        let _ = follow(&cur, loc.as_deref());
    }

    #[test]
    fn redirect_urls_shaped_like_urls_never_panic(
        cur in "(https?|ftp)://[a-z0-9.:\\[\\]@-]{0,30}(/[a-z0-9./?#]{0,20})?",
        loc in "(https?|ftp)://[a-z0-9.:\\[\\]@-]{0,30}(/[a-z0-9./?#]{0,20})?",
    ) {
        if let Ok(u) = follow(&cur, Some(&loc)) {
            // A followed redirect keeps our path and only ever lands on an http(s) origin.
            prop_assert!(u.starts_with("http://") || u.starts_with("https://"));
            let (_, path) = split_url(&cur).unwrap();
            prop_assert!(u.ends_with(path));
        }
    }

    #[test]
    fn answer_bodies_never_panic(status in 0u16..1000, body in proptest::collection::vec(any::<u8>(), 0..200), ra in proptest::option::of("\\PC{0,20}")) {
        let _ = classify(status, ra.as_deref(), None, &body, SystemTime::now());
    }
}

#[test]
fn huge_lengths_in_a_spool_file_are_refused() {
    let mut data = b"tracing-insights-spool 1\n".to_vec();
    data.extend_from_slice(format!("{}\nx\n", usize::MAX).as_bytes());
    assert_eq!(decode(&data), None);
}
