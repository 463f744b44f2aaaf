//! The envelope's time and duration texts, written digit by digit (no `core::fmt`; no
//! allocation for the time). The tests hold them to `humantime`'s RFC 3339 and to the
//! plain `format!` of the duration.

use serde::{Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An envelope time, written as RFC 3339 UTC with microseconds, the fraction left out
/// when it is 0 (`2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.005000Z`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timestamp(pub(crate) SystemTime);

/// A small text built on the stack.
pub(crate) struct Digits {
    buf: [u8; 40],
    len: usize,
}

impl Digits {
    fn new() -> Self {
        Self {
            buf: [0; 40],
            len: 0,
        }
    }

    /// `v` in decimal, zero-padded to at least `width` digits.
    fn num(&mut self, mut v: u64, width: usize) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for _ in (tmp.len() - i)..width {
            self.byte(b'0');
        }
        for &b in &tmp[i..] {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

impl Timestamp {
    pub(crate) fn digits(self) -> Digits {
        // Before 1970 cannot be written; it is not a real telemetry time.
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let micros = since.subsec_micros();
        let (days, rem) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days);
        let mut t = Digits::new();
        t.num(y, 4);
        t.byte(b'-');
        t.num(m, 2);
        t.byte(b'-');
        t.num(d, 2);
        t.byte(b'T');
        t.num(rem / 3600, 2);
        t.byte(b':');
        t.num(rem / 60 % 60, 2);
        t.byte(b':');
        t.num(rem % 60, 2);
        if micros != 0 {
            t.byte(b'.');
            t.num(u64::from(micros), 6);
        }
        t.byte(b'Z');
        t
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
    let mut t = Digits::new();
    t.num(days, 1);
    t.byte(b'.');
    t.num(rem / 3_600_000, 2);
    t.byte(b':');
    t.num(rem / 60_000 % 60, 2);
    t.byte(b':');
    t.num(rem / 1000 % 60, 2);
    t.byte(b'.');
    t.num(rem % 1000, 3);
    t.as_str().to_owned()
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
