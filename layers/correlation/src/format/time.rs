//! The JSON format's default timestamp: UTC, RFC 3339 with microseconds, written without
//! `core::fmt`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// The current time as `2026-11-22T10:00:00.000000Z`: the same text as
/// `tracing_subscriber::fmt::time::SystemTime`, written digit by digit (that timer's
/// `write!`s were about a tenth of a JSON line's cost). Times before 1970 or after 9999 are
/// left to that timer.
#[derive(Debug, Default, Clone, Copy)]
pub struct UtcTime;

impl FormatTime for UtcTime {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        match write_time(w, SystemTime::now()) {
            Some(result) => result,
            None => tracing_subscriber::fmt::time::SystemTime.format_time(w),
        }
    }
}

/// Writes `t` as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ`; `None` (nothing written) before 1970 or
/// after 9999.
fn write_time(w: &mut impl fmt::Write, t: SystemTime) -> Option<fmt::Result> {
    let buf = utc_rfc3339_micros(t)?;
    // Only ASCII digits and separators were written.
    Some(
        std::str::from_utf8(&buf)
            .map_err(|_| fmt::Error)
            .and_then(|s| w.write_str(s)),
    )
}

/// `t` as the UTC RFC 3339 text `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (microseconds, truncated),
/// written digit by digit into an ASCII array; `None` before 1970 or after 9999, which
/// four year digits cannot hold.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let t = UNIX_EPOCH + Duration::from_micros(1_704_067_200_229_500);
/// let text = tracing_insights_correlation::format::utc_rfc3339_micros(t).unwrap();
/// assert_eq!(&text, b"2024-01-01T00:00:00.229500Z");
/// ```
pub fn utc_rfc3339_micros(t: SystemTime) -> Option<[u8; 27]> {
    let since = t.duration_since(UNIX_EPOCH).ok()?;
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    if year > 9999 {
        return None;
    }
    let rem = secs % 86_400;
    let mut buf = *b"0000-00-00T00:00:00.000000Z";
    write_zero_padded(&mut buf[0..4], year);
    write_zero_padded(&mut buf[5..7], month);
    write_zero_padded(&mut buf[8..10], day);
    write_zero_padded(&mut buf[11..13], rem / 3600);
    write_zero_padded(&mut buf[14..16], rem % 3600 / 60);
    write_zero_padded(&mut buf[17..19], rem % 60);
    write_zero_padded(&mut buf[20..26], u64::from(since.subsec_micros()));
    Some(buf)
}

/// Fills `out` with `n`'s last `out.len()` decimal digits, zero-padded on the left (the
/// fixed-width fields of dates, times and durations).
///
/// ```
/// let mut field = *b"00:00";
/// tracing_insights_correlation::format::write_zero_padded(&mut field[3..], 7);
/// assert_eq!(&field, b"00:07");
/// ```
pub fn write_zero_padded(out: &mut [u8], mut n: u64) {
    for b in out.iter_mut().rev() {
        // `n % 10` is below 10.
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> String {
        let mut s = String::new();
        let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into());
        write_time(&mut s, t).expect("in range").unwrap();
        s
    }

    #[test]
    fn known_instants() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400, 1), "2000-02-29T00:00:00.000001Z");
        assert_eq!(at(1_700_000_000, 999_999), "2023-11-14T22:13:20.999999Z");
        assert_eq!(at(4_102_444_799, 500_000), "2099-12-31T23:59:59.500000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000000Z");
    }

    #[test]
    fn same_text_as_the_stock_timer() {
        let stock = || {
            let mut s = String::new();
            tracing_subscriber::fmt::time::SystemTime
                .format_time(&mut Writer::new(&mut s))
                .unwrap();
            s
        };
        let before = stock();
        let mut ours = String::new();
        UtcTime.format_time(&mut Writer::new(&mut ours)).unwrap();
        let after = stock();
        assert_eq!(before.len(), ours.len(), "{before} / {ours}");
        // Up to the minute, ours equals one of the stock timer's readings around it.
        assert!(
            ours[..16] == before[..16] || ours[..16] == after[..16],
            "{before} / {ours} / {after}"
        );
        assert!(before.as_str() <= ours.as_str() && ours.as_str() <= after.as_str());
    }

    #[test]
    fn out_of_range_is_left_to_the_stock_timer() {
        let mut s = String::new();
        assert!(write_time(&mut s, UNIX_EPOCH - Duration::from_secs(1)).is_none());
        assert!(s.is_empty());
    }
}
