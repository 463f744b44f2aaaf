//! W3C trace and span identifiers and the generator that makes them.

use std::fmt;

/// A 16-byte W3C trace id. Displays as 32 lower-case hex characters, the form
/// Application Insights calls `operation_Id` and OTLP carries as `trace_id`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId([u8; 16]);

/// An 8-byte W3C span id. Displays as 16 lower-case hex characters, the form
/// Application Insights calls `operation_ParentId` (of a child) and `id` (of a request).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId([u8; 8]);

macro_rules! hex_id {
    ($ty:ident, $len:literal) => {
        impl $ty {
            /// The invalid all-zero id.
            pub const INVALID: Self = Self([0; $len]);

            /// Wraps raw bytes.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The raw bytes.
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }

            /// `false` for the all-zero id, which W3C Trace Context forbids.
            pub fn is_valid(&self) -> bool {
                self.0 != [0; $len]
            }

            /// Parses exactly
            #[doc = concat!(stringify!($len), " bytes written as lower-case hex (upper case is rejected, as W3C Trace Context requires).")]
            /// The all-zero id parses; check [`Self::is_valid`].
            pub fn from_hex(hex: &str) -> Option<Self> {
                let bytes = hex.as_bytes();
                if bytes.len() != $len * 2 {
                    return None;
                }
                let mut out = [0u8; $len];
                for (i, pair) in bytes.chunks_exact(2).enumerate() {
                    out[i] = (lower_hex_value(pair[0])? << 4) | lower_hex_value(pair[1])?;
                }
                Some(Self(out))
            }

            /// Writes the id as lower-case hex into a stack buffer and returns it as `&str`.
            pub fn encode_hex<'b>(&self, buf: &'b mut [u8; $len * 2]) -> &'b str {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                for (i, b) in self.0.iter().enumerate() {
                    buf[i * 2] = DIGITS[(b >> 4) as usize];
                    buf[i * 2 + 1] = DIGITS[(b & 0xf) as usize];
                }
                // Only ASCII hex digits were written.
                std::str::from_utf8(buf).unwrap_or_default()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut buf = [0u8; $len * 2];
                f.write_str(self.encode_hex(&mut buf))
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self)
            }
        }
    };
}

hex_id!(TraceId, 16);
hex_id!(SpanId, 8);

fn lower_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Makes trace and span ids. The default, [`RandomIdGenerator`], draws them from a
/// thread-local generator; tests and the conformance runner inject their own through the
/// `testing` feature.
pub trait IdGenerator: Send + Sync + fmt::Debug + 'static {
    /// A new, valid (non-zero) trace id.
    fn new_trace_id(&self) -> TraceId;
    /// A new, valid (non-zero) span id.
    fn new_span_id(&self) -> SpanId;
}

/// Random ids from `fastrand`'s thread-local WyRand generator, seeded from the OS.
///
/// Ids are for correlation, not for secrecy: they need to be unique, not unguessable,
/// which is also what OpenTelemetry's SDKs provide.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIdGenerator;

impl IdGenerator for RandomIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        loop {
            let id = TraceId(fastrand::u128(..).to_be_bytes());
            if id.is_valid() {
                return id;
            }
        }
    }

    fn new_span_id(&self) -> SpanId {
        loop {
            let id = SpanId(fastrand::u64(..).to_be_bytes());
            if id.is_valid() {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        let s = SpanId::from_hex("b7ad6b7169203331").unwrap();
        assert_eq!(s.to_string(), "b7ad6b7169203331");
    }

    #[test]
    fn rejects_upper_case_and_wrong_length() {
        assert!(TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C").is_none());
        assert!(TraceId::from_hex("0af7651916cd43dd8448eb211c80319").is_none());
        assert!(SpanId::from_hex("b7ad6b716920333g").is_none());
        assert!(SpanId::from_hex("").is_none());
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let g = RandomIdGenerator;
        let a = g.new_trace_id();
        let b = g.new_trace_id();
        assert!(a.is_valid() && b.is_valid());
        assert_ne!(a, b);
        assert!(g.new_span_id().is_valid());
    }
}
