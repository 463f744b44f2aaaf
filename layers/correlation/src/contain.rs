//! Keeping the application's panics (and our own) out of the subscriber's state: see the
//! crate docs, "Panics", for what is contained and what still reaches the application.

use std::fmt::{self, Write as _};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a value recorded with `?` or `%` becomes when its formatting panics.
pub const DEBUG_PANICKED: &str = "<Debug panicked>";

/// What an error recorded as `&dyn Error` (or one of its sources) becomes when its
/// `Display` panics.
pub const DISPLAY_PANICKED: &str = "<Display panicked>";

static CONTAINED: AtomicU64 = AtomicU64::new(0);

/// How many panics the correlation layer and the JSON and text formats have contained in
/// this process: values whose `Display`/`Debug` panicked (recorded as a placeholder) and
/// callbacks that panicked. See [the crate docs](crate#panics) for what is contained.
pub fn contained_panics() -> u64 {
    CONTAINED.load(Ordering::Relaxed)
}

pub(crate) fn note() {
    CONTAINED.fetch_add(1, Ordering::Relaxed);
}

/// Runs a layer callback; a panic is counted and ends the callback with `fallback`.
#[inline]
pub(crate) fn callback<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            note();
            fallback
        }
    }
}

/// Appends `value`'s `Debug` output to `out`; if it panics, whatever it wrote is taken back
/// and [`DEBUG_PANICKED`] written instead.
#[inline]
pub(crate) fn write_debug(out: &mut String, value: &dyn fmt::Debug) {
    write_guarded(out, DEBUG_PANICKED, |s| write!(s, "{value:?}"));
}

/// Appends `value`'s `Display` output to `out`, as [`write_debug`] does.
#[inline]
pub(crate) fn write_display(out: &mut String, value: &dyn fmt::Display) {
    write_guarded(out, DISPLAY_PANICKED, |s| write!(s, "{value}"));
}

/// `value`'s `Debug` output, or [`DEBUG_PANICKED`].
#[cfg(test)]
pub(crate) fn debug_string(value: &dyn fmt::Debug) -> String {
    let mut s = String::new();
    write_debug(&mut s, value);
    s
}

/// `value`'s `Display` output, or [`DISPLAY_PANICKED`].
pub(crate) fn display_string(value: &dyn fmt::Display) -> String {
    let mut s = String::new();
    write_display(&mut s, value);
    s
}

fn write_guarded(out: &mut String, placeholder: &str, f: impl FnOnce(&mut String) -> fmt::Result) {
    let start = out.len();
    match catch_unwind(AssertUnwindSafe(|| f(out))) {
        Ok(_) => {}
        Err(_) => {
            note();
            // `start` was the end of what was there before: a char boundary.
            out.truncate(start);
            out.push_str(placeholder);
        }
    }
}

/// A `Debug` wrapper that writes the wrapped value's `Debug` output straight into the
/// formatter, and [`DEBUG_PANICKED`] after whatever it wrote if that panics. For writers
/// that cannot take output back (a log line being written), where a copy into a `String`
/// first would cost an allocation per value.
pub(crate) struct Guarded<'a>(pub(crate) &'a dyn fmt::Debug);

impl fmt::Debug for Guarded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match catch_unwind(AssertUnwindSafe(|| self.0.fmt(f))) {
            Ok(r) => r,
            Err(_) => {
                note();
                f.write_str(DEBUG_PANICKED)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Boom;
    impl fmt::Display for Boom {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("partial")?;
            panic!("boom")
        }
    }
    impl fmt::Debug for Boom {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(self, f)
        }
    }

    #[test]
    fn a_panicking_value_leaves_only_the_placeholder() {
        let before = contained_panics();
        let mut s = String::from("a=");
        write_debug(&mut s, &Boom);
        assert_eq!(s, "a=<Debug panicked>");
        assert_eq!(display_string(&Boom), DISPLAY_PANICKED);
        assert_eq!(debug_string(&"ok"), "\"ok\"");
        assert_eq!(format!("{:?}", Guarded(&Boom)), "partial<Debug panicked>");
        assert!(contained_panics() >= before + 3);
    }

    #[test]
    fn a_panicking_callback_returns_the_fallback() {
        assert_eq!(callback(7, || -> i32 { panic!("ours") }), 7);
        assert_eq!(callback(7, || 1), 1);
    }
}
