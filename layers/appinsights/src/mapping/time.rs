//! The envelope's time and duration texts, written digit by digit (no `core::fmt`; no
//! allocation for the time) with the correlation crate's digit writers. The tests hold
//! them to `humantime`'s RFC 3339 and to the plain `format!` of the duration.

use serde::{Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_insights_correlation::format::{utc_rfc3339_micros, write_decimal, write_zero_padded};

/// An envelope time, written as RFC 3339 UTC with microseconds, the fraction left out
/// when it is 0 (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.005000Z`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timestamp(pub(crate) SystemTime);

/// An envelope time's text, on the stack.
pub(crate) struct TimeText {
    buf: [u8; 27],
    len: usize,
}

impl TimeText {
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl Timestamp {
    pub(crate) fn digits(self) -> TimeText {
        // Neither before 1970 nor after 9999 is a real telemetry time, and RFC 3339 has
        // four year digits: such times are written as the nearest one that can be.
        let buf = match utc_rfc3339_micros(self.0) {
            Some(buf) => buf,
            None if self.0 < UNIX_EPOCH => *b"1970-01-01T00:00:00.000000Z",
            None => *b"9999-12-31T23:59:59.999999Z",
        };
        let mut text = TimeText { buf, len: 27 };
        if &buf[20..26] == b"000000" {
            text.buf[19] = b'Z';
            text.len = 20;
        }
        text
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.digits().as_str())
    }
}

/// `D.HH:MM:SS.fff`, rounded half-up to the millisecond (Microsoft's format).
pub(crate) fn duration_text(d: Duration) -> String {
    let ms = (d.as_nanos() + 500_000) / 1_000_000;
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let mut text = String::with_capacity(24);
    // Writing to a `String` cannot fail.
    let _ = write_decimal(&mut text, days);
    let mut clock = *b".00:00:00.000";
    write_zero_padded(&mut clock[1..3], rem / 3_600_000);
    write_zero_padded(&mut clock[4..6], rem / 60_000 % 60);
    write_zero_padded(&mut clock[7..9], rem / 1000 % 60);
    write_zero_padded(&mut clock[10..13], rem % 1000);
    text.extend(clock.iter().map(|&b| char::from(b)));
    text
}

/// The milliseconds the standard metrics read back from [`duration_text`]`(d)`, bit for bit,
/// without writing and parsing the text: the same sum over the same parts. `SS.fff` as
/// `SSfff / 1000.0` is the value parsing the text gives, as both are the correctly rounded
/// double of the same decimal.
pub(crate) fn duration_text_ms(d: Duration) -> f64 {
    let ms = (d.as_nanos() + 500_000) / 1_000_000;
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
    let hours = (rem / 3_600_000) as f64;
    let minutes = (rem / 60_000 % 60) as f64;
    let seconds = (rem % 60_000) as f64 / 1000.0;
    (((days as f64 * 24.0 + hours) * 60.0 + minutes) * 60.0 + seconds) * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: `humantime`'s RFC 3339 with microseconds, `.000000` left out.
    fn format_time(t: SystemTime) -> String {
        let t = t.max(UNIX_EPOCH);
        let s = humantime::format_rfc3339_micros(t).to_string();
        match s.strip_suffix(".000000Z") {
            Some(whole) => format!("{whole}Z"),
            None => s,
        }
    }

    /// The reference duration text.
    fn format_duration(d: Duration) -> String {
        let ms = (d.as_nanos() + 500_000) / 1_000_000;
        let (days, rem) = (ms / 86_400_000, ms % 86_400_000);
        let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        let (s, f) = (rem / 1000, rem % 1000);
        format!("{days}.{h:02}:{m:02}:{s:02}.{f:03}")
    }

    proptest::proptest! {
        #[test]
        fn times_read_as_the_reference_formats_them(
            secs in 0u64..253_402_300_799, // up to 9999-12-31T23:59:59
            nanos in 0u32..1_000_000_000,
            whole in proptest::bool::ANY,
        ) {
            let nanos = if whole { 0 } else { nanos };
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            let text = Timestamp(t).digits();
            proptest::prop_assert_eq!(text.as_str(), format_time(t));
        }

        #[test]
        fn durations_read_as_the_reference_formats_them(nanos in 0u64..u64::MAX / 4) {
            let d = Duration::from_nanos(nanos);
            proptest::prop_assert_eq!(duration_text(d), format_duration(d));
        }

        #[test]
        fn duration_milliseconds_are_what_the_text_parses_to(nanos in 0u64..u64::MAX / 4) {
            let d = Duration::from_nanos(nanos);
            let parsed = crate::standard::duration_ms(&duration_text(d)).expect("parses");
            proptest::prop_assert_eq!(duration_text_ms(d).to_bits(), parsed.to_bits());
        }
    }

    #[test]
    fn edges() {
        for t in [
            UNIX_EPOCH,
            UNIX_EPOCH - Duration::from_secs(5),
            UNIX_EPOCH + Duration::from_secs(951_782_400),
            UNIX_EPOCH + Duration::from_micros(1_704_067_200_229_500),
        ] {
            assert_eq!(Timestamp(t).digits().as_str(), format_time(t));
        }
        assert_eq!(
            duration_text(Duration::from_nanos(999_500)),
            "0.00:00:00.001"
        );
        assert_eq!(duration_text(Duration::ZERO), "0.00:00:00.000");
        let far = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
        assert_eq!(
            Timestamp(far).digits().as_str(),
            "9999-12-31T23:59:59.999999Z"
        );
        let d = Duration::from_secs(3 * 86400 + 3600 + 120 + 3) + Duration::from_nanos(456_800_000);
        assert_eq!(duration_text(d), "3.01:02:03.457");
        let t = UNIX_EPOCH + Duration::from_secs(1_704_067_200);
        assert_eq!(Timestamp(t).digits().as_str(), "2024-01-01T00:00:00Z");
        let t = t + Duration::from_micros(229_500);
        assert_eq!(
            Timestamp(t).digits().as_str(),
            "2024-01-01T00:00:00.229500Z"
        );
    }
}
