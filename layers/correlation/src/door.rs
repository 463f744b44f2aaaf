//! The one bound on a recorded value's size, applied where a value is first copied (the
//! correlation layer's span record, each exporter's event fields), so memory on the
//! application thread never follows the input: a 10 MiB field costs at most
//! [`MAX_VALUE_BYTES`] per copy. Exporters cut further, to their own limits, on their own
//! threads. Values are cut, never dropped.

use compact_str::CompactString;
use std::fmt::{self, Write as _};

/// The largest string value kept from one field: 256 KiB, the largest limit any of our
/// exporters documents (Application Insights keeps up to 256 KiB for GenAI content
/// properties). Longer values are cut on a char boundary and end with [`CUT_MARKER`].
pub const MAX_VALUE_BYTES: usize = 256 * 1024;

/// Appended to a value cut at [`MAX_VALUE_BYTES`] (included in the bound).
pub const CUT_MARKER: &str = "...";

/// A copy of `value`, cut to at most [`MAX_VALUE_BYTES`] bytes; up to 24 bytes it is kept
/// inline, without an allocation.
pub fn cut_str(value: &str) -> CompactString {
    if value.len() <= MAX_VALUE_BYTES {
        return CompactString::from(value);
    }
    let mut at = MAX_VALUE_BYTES - CUT_MARKER.len();
    while !value.is_char_boundary(at) {
        at -= 1;
    }
    let mut s = CompactString::with_capacity(at + CUT_MARKER.len());
    s.push_str(&value[..at]);
    s.push_str(CUT_MARKER);
    s
}

/// `value`'s `Debug` output, cut to at most [`MAX_VALUE_BYTES`] bytes: formatting stops
/// once the bound is reached, so a huge value is never formatted in full. A panicking
/// `Debug` becomes [`DEBUG_PANICKED`](crate::DEBUG_PANICKED). Up to 24 bytes it is kept
/// inline, without an allocation.
pub fn cut_debug(value: &dyn fmt::Debug) -> CompactString {
    let mut w = Bounded {
        out: CompactString::default(),
        full: false,
    };
    let mut panicked = false;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = write!(w, "{value:?}");
    }));
    if r.is_err() {
        crate::contain::note();
        panicked = true;
    }
    if panicked {
        return CompactString::from(crate::DEBUG_PANICKED);
    }
    if w.full {
        w.out.push_str(CUT_MARKER);
    }
    w.out
}

/// A writer that keeps at most `MAX_VALUE_BYTES - CUT_MARKER.len()` bytes and then fails,
/// which ends the formatting.
struct Bounded {
    out: CompactString,
    full: bool,
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = MAX_VALUE_BYTES - CUT_MARKER.len() - self.out.len();
        if s.len() <= room {
            self.out.push_str(s);
            return Ok(());
        }
        let mut at = room;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        self.out.push_str(&s[..at]);
        self.full = true;
        Err(fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_kept_whole() {
        assert_eq!(cut_str("abc"), "abc");
        assert_eq!(cut_debug(&"abc"), "\"abc\"");
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary_to_the_bound() {
        let s = "€".repeat(MAX_VALUE_BYTES);
        let c = cut_str(&s);
        assert!(c.len() <= MAX_VALUE_BYTES && c.len() > MAX_VALUE_BYTES - 8);
        assert!(c.ends_with(CUT_MARKER));
        let d = cut_debug(&s);
        assert!(d.len() <= MAX_VALUE_BYTES && d.len() > MAX_VALUE_BYTES - 8);
        assert!(d.starts_with("\"€€") && d.ends_with(CUT_MARKER));
    }

    #[test]
    fn a_huge_debug_value_is_not_formatted_in_full() {
        struct Endless;
        impl fmt::Debug for Endless {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Stops only when the writer refuses more.
                loop {
                    f.write_str("0123456789")?;
                }
            }
        }
        assert_eq!(cut_debug(&Endless).len(), MAX_VALUE_BYTES);
    }
}
