//! Running an exporter's telemetry processors on one item: in order, each contained, stopping
//! at the first that drops the item or panics. Each exporter has its own processor trait over
//! its own view of an item and its own counters; the order and the containment live here.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// What a processor chain decided for one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every processor kept the item.
    Keep,
    /// A processor returned `false`.
    Dropped,
    /// A processor panicked; the item is dropped and the panic counts as a contained one.
    Panicked,
}

impl Verdict {
    /// Whether the item goes on.
    pub fn is_kept(self) -> bool {
        self == Verdict::Keep
    }
}

/// Calls `process` with each of `processors` in order, each under `catch_unwind`, until one
/// drops the item or panics.
pub fn run_chain<P: ?Sized>(processors: &[Arc<P>], mut process: impl FnMut(&P) -> bool) -> Verdict {
    for p in processors {
        match catch_unwind(AssertUnwindSafe(|| process(p))) {
            Ok(true) => {}
            Ok(false) => return Verdict::Dropped,
            Err(_) => return Verdict::Panicked,
        }
    }
    Verdict::Keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stops_at_the_first_drop_or_panic() {
        let calls = std::cell::Cell::new(0);
        let keep: Arc<dyn Fn() -> bool> = Arc::new(|| true);
        let drop: Arc<dyn Fn() -> bool> = Arc::new(|| false);
        let panic: Arc<dyn Fn() -> bool> = Arc::new(|| panic!("processor"));
        let run = |list: &[Arc<dyn Fn() -> bool>]| {
            run_chain(list, |p| {
                calls.set(calls.get() + 1);
                p()
            })
        };
        assert_eq!(run(&[keep.clone(), keep.clone()]), Verdict::Keep);
        assert_eq!(calls.replace(0), 2);
        assert_eq!(run(&[drop.clone(), keep.clone()]), Verdict::Dropped);
        assert_eq!(calls.replace(0), 1);
        assert_eq!(run(&[keep.clone(), panic, drop]), Verdict::Panicked);
        assert_eq!(calls.replace(0), 2);
        assert_eq!(run(&[]), Verdict::Keep);
    }
}
