//! Text writers shared by this crate's JSON format and other encoders of the workspace (the
//! App Insights envelope writer): a JSON string literal and a decimal integer, each written
//! without `core::fmt` or `serde_json`, so a line costs a few copies per value.

use std::fmt;

/// Writes `s` as a JSON string literal, escaped exactly as `serde_json` escapes it (`"`, `\`
/// and control characters; the short forms where JSON has them).
///
/// Most strings (keys, names, values) need no escape: the first byte that does is found
/// eight bytes at a time and everything before it is written in one piece. Written straight
/// into the output rather than through `serde_json`'s `io::Write` bridge, which re-validated
/// every chunk as UTF-8 and cost about 17% of a JSON log line.
///
/// ```
/// let mut out = String::new();
/// tracing_insights_correlation::format::write_json_str(&mut out, "a \"b\"\n").unwrap();
/// assert_eq!(out, r#""a \"b\"\n""#);
/// ```
pub fn write_json_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    w.write_char('"')?;
    let clean = json_clean_prefix(s.as_bytes());
    if clean == s.len() {
        w.write_str(s)?;
        return w.write_char('"');
    }
    let mut start = 0;
    for (i, b) in s.bytes().enumerate().skip(clean) {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on char boundaries.
        w.write_str(&s[start..i])?;
        if short.is_empty() {
            w.write_str("\\u00")?;
            w.write_char(char::from(HEX[usize::from(b >> 4)]))?;
            w.write_char(char::from(HEX[usize::from(b & 0xf)]))?;
        } else {
            w.write_str(short)?;
        }
        start = i + 1;
    }
    w.write_str(&s[start..])?;
    w.write_char('"')
}

/// How many leading bytes of `s` need no JSON escape (no `"`, `\\` or control character).
#[inline]
pub(crate) fn json_clean_prefix(s: &[u8]) -> usize {
    let n = s.len();
    let mut i = 0;
    while i + 8 <= n {
        if needs_escape(chunk_at(s, i)) {
            return i + clean_bytes(&s[i..]);
        }
        i += 8;
    }
    // The last few bytes as one more chunk that ends at the end, overlapping bytes already
    // checked (or, for a string of 4 to 7 bytes, its first and last four), instead of a
    // byte-by-byte tail: most strings are short or end with one.
    let tail = if n >= 8 {
        chunk_at(s, n - 8)
    } else if n >= 4 {
        u64::from(half_at(s, 0)) | (u64::from(half_at(s, n - 4)) << 32)
    } else {
        return clean_bytes(s);
    };
    if i == n || !needs_escape(tail) {
        return n;
    }
    i + clean_bytes(&s[i..])
}

/// The four bytes of `s` from `at` as one little-endian word.
#[inline]
fn half_at(s: &[u8], at: usize) -> u32 {
    let mut half = [0u8; 4];
    half.copy_from_slice(&s[at..at + 4]);
    u32::from_le_bytes(half)
}

/// The eight bytes of `s` from `at` as one little-endian word.
#[inline]
fn chunk_at(s: &[u8], at: usize) -> u64 {
    let mut chunk = [0u8; 8];
    chunk.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(chunk)
}

/// Whether some byte of `x` is a `"`, a `\\` or a control character (SWAR).
#[inline]
fn needs_escape(x: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `x` is zero (the classic SWAR test; which byte it
    // marks may be off above a true zero, so callers settle where with `clean_bytes`).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    // Control characters are the bytes below 0x20: their top three bits are zero.
    let control = has_zero(x & (0xe0 * ONES));
    let special = has_zero(x ^ (u64::from(b'"') * ONES)) | has_zero(x ^ (u64::from(b'\\') * ONES));
    control | special != 0
}

/// How many leading bytes of `s` need no escape, byte by byte.
#[inline]
fn clean_bytes(s: &[u8]) -> usize {
    s.iter()
        .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
        .unwrap_or(s.len())
}

/// Writes `n` in decimal, the text `n.to_string()` gives, without going through
/// `core::fmt` (whose `write!` costs several times this for the small integers most
/// fields are).
///
/// ```
/// let mut out = String::new();
/// tracing_insights_correlation::format::write_decimal(&mut out, 1_024).unwrap();
/// assert_eq!(out, "1024");
/// ```
pub fn write_decimal(w: &mut impl fmt::Write, mut n: u64) -> fmt::Result {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Digit by digit: checking the buffer as UTF-8 (`str::from_utf8`) cost more than the
    // writes, which are inlined pushes for a `String`.
    for &d in &buf[at..] {
        w.write_char(char::from(d))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn strings_are_escaped_exactly_like_serde_json(
            s in "\\PC*|[\\x00-\\x7f]{0,40}|.{0,20}"
        ) {
            let mut ours = String::new();
            write_json_str(&mut ours, &s).unwrap();
            prop_assert_eq!(ours, serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn the_clean_prefix_ends_at_the_first_byte_to_escape(
            s in "[a-z\"\\\\\x00-\x1f]{0,3}|[a-z]{0,30}[\"\\\\\n]?[a-z]{0,9}|\\PC{0,40}"
        ) {
            let naive = s.bytes().position(|b| b < 0x20 || b == b'"' || b == b'\\').unwrap_or(s.len());
            prop_assert_eq!(json_clean_prefix(s.as_bytes()), naive);
        }

        #[test]
        fn decimals_read_as_display_writes_them(n in any::<u64>()) {
            let mut ours = String::new();
            write_decimal(&mut ours, n).unwrap();
            prop_assert_eq!(ours, n.to_string());
        }
    }

    #[test]
    fn edges() {
        let mut s = String::new();
        write_decimal(&mut s, 0).unwrap();
        write_decimal(&mut s, u64::MAX).unwrap();
        assert_eq!(s, format!("0{}", u64::MAX));
        let mut s = String::new();
        write_json_str(&mut s, "12345678\u{1}\u{7f}é\"").unwrap();
        assert_eq!(s, serde_json::to_string("12345678\u{1}\u{7f}é\"").unwrap());
    }
}
