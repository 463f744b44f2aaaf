//! W3C Trace Context: the `traceparent` and `tracestate` headers.

use crate::ids::{SpanId, TraceId};
use std::fmt;

/// A parsed W3C `traceparent` header: `00-{trace id}-{parent id}-{flags}`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TraceParent {
    /// The trace the caller belongs to.
    pub trace_id: TraceId,
    /// The caller's span id: the parent of the span that continues this trace.
    pub parent_id: SpanId,
    /// The trace flags; bit 0 is `sampled`.
    pub flags: u8,
}

/// The most a `tracestate` value may hold (W3C: 32 list members of at most 256 chars;
/// vendors propagate at least 512 characters). Longer values are dropped, not cut, because a
/// cut list member would be corrupt.
pub const MAX_TRACESTATE_LEN: usize = 512;

impl TraceParent {
    /// Whether the caller sampled this trace (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 0x01 == 0x01
    }

    /// Parses a `traceparent` value by the W3C rules, returning `None` for anything that
    /// breaks one: version `ff`, a non-hex or upper-case digit, a wrong length, an all-zero
    /// trace or parent id, or extra data after a version-00 header. Leading and trailing
    /// whitespace (as HTTP header values may carry) is ignored. Versions above 00 are read as
    /// version 00 with any trailing fields ignored, as the specification asks.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let mut parts = value.splitn(5, '-');
        let version = parts.next()?;
        let trace_id = parts.next()?;
        let parent_id = parts.next()?;
        let flags = parts.next()?;
        let rest = parts.next();
        if version.len() != 2 || version == "ff" {
            return None;
        }
        let version = u8::from_str_radix(version, 16).ok()?;
        if !version_chars_ok(value.as_bytes()[..2].iter().copied()) {
            return None;
        }
        match (version, rest) {
            (0, Some(_)) => return None,
            (0, None) => {}
            // A future version may append fields, each introduced by '-'.
            (_, _) => {}
        }
        let trace_id = TraceId::from_hex(trace_id).filter(TraceId::is_valid)?;
        let parent_id = SpanId::from_hex(parent_id).filter(SpanId::is_valid)?;
        if flags.len() != 2 || !version_chars_ok(flags.bytes()) {
            return None;
        }
        let flags = u8::from_str_radix(flags, 16).ok()?;
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }
}

fn version_chars_ok(mut chars: impl Iterator<Item = u8>) -> bool {
    chars.all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

/// Checks a `tracestate` value for carrying through unchanged: printable ASCII only
/// (W3C allows nothing else) and at most [`MAX_TRACESTATE_LEN`] characters. Returns the
/// trimmed value, or `None` when it must be dropped.
pub fn valid_tracestate(value: &str) -> Option<&str> {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if value.is_empty()
        || value.len() > MAX_TRACESTATE_LEN
        || !value.bytes().all(|b| (0x20..=0x7e).contains(&b))
    {
        return None;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn round_trip() {
        let tp = TraceParent::parse(EXAMPLE).unwrap();
        assert!(tp.sampled());
        assert_eq!(tp.to_string(), EXAMPLE);
    }

    #[test]
    fn rejects_every_w3c_violation() {
        for bad in [
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0G-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0G",
            "",
            "garbage",
            "00--b7ad6b7169203331-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn future_versions_are_read_as_00() {
        let tp = TraceParent::parse("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what")
            .unwrap();
        assert_eq!(tp.trace_id.to_string(), "0af7651916cd43dd8448eb211c80319c");
    }

    #[test]
    fn tracestate_rules() {
        assert_eq!(
            valid_tracestate(" congo=t61rcWkgMzE "),
            Some("congo=t61rcWkgMzE")
        );
        assert_eq!(valid_tracestate("a=€"), None);
        assert_eq!(valid_tracestate(&"a".repeat(513)), None);
        assert_eq!(valid_tracestate(""), None);
    }
}
