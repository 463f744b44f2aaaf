//! Errors as Application Insights exceptions, with real type names.
//!
//! `tracing` hands a layer an error as a bare `&dyn Error`, which has no type name. Wrap it
//! with [`exception`] where you log it and the exception's `typeName` is the error's Rust type
//! (`std::any::type_name`), with a [`Backtrace`] as its stack when backtraces are enabled
//! (`RUST_BACKTRACE` / `RUST_LIB_BACKTRACE`, as [`Backtrace::capture`] decides):
//!
//! ```
//! use tracing_insights_appinsights::exception;
//!
//! # let err = std::io::Error::other("disk full");
//! tracing::error!(error = exception(&err), "save failed");
//! ```
//!
//! The value is still a `&dyn Error` with the same message and `source()` chain for every
//! other layer (a JSON log line shows the same text).
//!
//! Without the wrapper (`error = &err as &dyn Error`), the type name comes from, in order:
//! an `exception.type` field, an `error.type` field, then `"Exception"` for the outer error;
//! for each `source()`, the std types the layer recognises by downcasting
//! (`std::io::Error`, `std::num::ParseIntError`, ...), else `"Error"`. It is never `"<no type>"`.

use std::any::type_name;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::error::Error;
use std::fmt;

/// One link of a recorded error chain: its message and type name, and what caused it.
#[derive(Debug)]
struct Link {
    message: String,
    type_name: Option<&'static str>,
    source: Option<Box<Link>>,
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Link {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn Error + 'static))
    }
}

/// An error recorded with its Rust type name (and a backtrace when enabled): what
/// [`exception`] returns. It displays as the error did, and its `source()` chain has the same
/// messages.
#[derive(Debug)]
pub struct Exception {
    head: Link,
    backtrace: Option<String>,
}

impl fmt::Display for Exception {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.head.message)
    }
}

impl Error for Exception {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.head.source()
    }
}

impl Exception {
    /// Records `err`: its message, its type name, its `source()` chain (at most 32 links)
    /// and, when enabled, a backtrace of the caller.
    pub fn new<E: Error + ?Sized + 'static>(err: &E) -> Self {
        let name = type_name::<E>();
        // A `dyn Error` has no useful name: recognise what can be recognised.
        let type_name = (!name.starts_with("dyn ")).then_some(name);
        let mut links = Vec::new();
        let mut next = err.source();
        while let Some(e) = next {
            if links.len() == 32 {
                break;
            }
            links.push((e.to_string(), source_type(e)));
            next = e.source();
        }
        let mut source = None;
        for (message, type_name) in links.into_iter().rev() {
            source = Some(Box::new(Link {
                message,
                type_name,
                source,
            }));
        }
        let bt = Backtrace::capture();
        Self {
            head: Link {
                message: err.to_string(),
                type_name,
                source,
            },
            backtrace: (bt.status() == BacktraceStatus::Captured).then(|| bt.to_string()),
        }
    }

    /// The outer error's type name, when known.
    pub fn type_name(&self) -> Option<&'static str> {
        self.head.type_name
    }

    /// The backtrace captured with it, when backtraces were enabled.
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }

    /// (message, type name) of the outer error and each source, outermost first.
    pub(crate) fn chain(&self) -> Vec<(&str, Option<&'static str>)> {
        let mut out = Vec::new();
        let mut link = Some(&self.head);
        while let Some(l) = link {
            out.push((l.message.as_str(), l.type_name));
            link = l.source.as_deref();
        }
        out
    }
}

/// Wraps `err` for recording as an event field, so that the exception's `typeName` is the
/// error's Rust type (and its stack a backtrace, when enabled):
/// `tracing::error!(error = exception(&err), "save failed")`.
///
/// Generic over the error type, so call it with the concrete error (`&MyError`, not
/// `&dyn Error`); given a `&dyn Error` it knows no type name and the layer falls back to
/// the `exception.type` / `error.type` fields, else `"Exception"`.
pub fn exception<E: Error + ?Sized + 'static>(err: &E) -> Box<dyn Error + Send + Sync + 'static> {
    Box::new(Exception::new(err))
}

/// The type names of std errors a `&dyn Error` can be recognised as.
pub(crate) fn known_type(e: &(dyn Error + 'static)) -> Option<&'static str> {
    macro_rules! known {
        ($($t:ty => $n:literal),* $(,)?) => {
            $(if e.is::<$t>() { return Some($n); })*
        };
    }
    if let Some(x) = e.downcast_ref::<Exception>() {
        return x.type_name();
    }
    if let Some(x) = e.downcast_ref::<Link>() {
        return x.type_name;
    }
    known!(
        std::io::Error => "std::io::Error",
        std::fmt::Error => "std::fmt::Error",
        std::num::ParseIntError => "std::num::ParseIntError",
        std::num::ParseFloatError => "std::num::ParseFloatError",
        std::num::TryFromIntError => "std::num::TryFromIntError",
        std::str::Utf8Error => "std::str::Utf8Error",
        std::string::FromUtf8Error => "std::string::FromUtf8Error",
        std::str::ParseBoolError => "std::str::ParseBoolError",
        std::char::ParseCharError => "std::char::ParseCharError",
        std::net::AddrParseError => "std::net::AddrParseError",
        std::time::SystemTimeError => "std::time::SystemTimeError",
        std::env::VarError => "std::env::VarError",
        std::sync::mpsc::RecvError => "std::sync::mpsc::RecvError",
        std::array::TryFromSliceError => "std::array::TryFromSliceError",
        std::ffi::NulError => "std::ffi::NulError",
    );
    None
}

fn source_type(e: &(dyn Error + 'static)) -> Option<&'static str> {
    known_type(e)
}

/// The type names (and backtrace) of an error recorded as a field: from an [`Exception`]
/// wrapper when it is one, else what downcasting recognises.
pub(crate) fn extra(e: &(dyn Error + 'static)) -> crate::mapping::ErrorExtra {
    if let Some(x) = e.downcast_ref::<Exception>() {
        return crate::mapping::ErrorExtra {
            types: x.chain().into_iter().map(|(_, t)| t).collect(),
            backtrace: x.backtrace.clone(),
        };
    }
    let mut types = vec![known_type(e)];
    let mut next = e.source();
    while let Some(s) = next {
        if types.len() > 32 {
            break;
        }
        types.push(source_type(s));
        next = s.source();
    }
    crate::mapping::ErrorExtra {
        types,
        backtrace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_wrapper_keeps_messages_chain_and_type_names() {
        let err = Outer(std::io::Error::other("inner"));
        let boxed = exception(&err);
        assert_eq!(boxed.to_string(), "outer");
        assert_eq!(boxed.source().unwrap().to_string(), "inner");
        let x = extra(&*boxed);
        assert_eq!(
            x.types,
            vec![
                Some("tracing_insights_appinsights::exception::tests::Outer"),
                Some("std::io::Error")
            ]
        );
    }

    #[test]
    fn a_dyn_error_has_no_type_name_and_std_sources_are_recognised() {
        let err: Box<dyn Error + Send + Sync> = Box::new(Outer(std::io::Error::other("inner")));
        let x = Exception::new(&*err);
        assert_eq!(x.type_name(), None);
        assert_eq!(
            x.chain(),
            vec![("outer", None), ("inner", Some("std::io::Error"))]
        );
        let parse = "x".parse::<i32>().unwrap_err();
        assert_eq!(extra(&parse).types, vec![Some("std::num::ParseIntError")]);
    }
}
