//! Document processors: code that sees every sample document (the requests, dependencies,
//! exceptions and log lines the portal lists) on the Live Metrics worker thread before it
//! is posted, and may change its fields or drop it.
//!
//! A processor gets a [`Document`]: this exporter's own copy of one document, built from
//! the span or event (which stays untouched). Returning `false` drops the document; a panic
//! drops it too and is counted in
//! [`ExportStats::contained_panics`](crate::ExportStats::contained_panics). Both are
//! counted as [`DropReason::Processor`](crate::DropReason::Processor) in the guard's stats.
//! Counters and derived metrics are not affected: they are taken on the application's
//! thread before any document exists. Processors run in the order they were added.
//!
//! ```
//! use tracing_insights_live_metrics::{Document, LiveMetricsLayer};
//!
//! let builder = LiveMetricsLayer::builder()
//!     // Health checks are not worth a sample.
//!     .with_processor(|doc: &mut Document<'_>| doc.field("Name") != Some("GET /health"))
//!     // Log lines that hold an e-mail address are shown without it.
//!     .with_processor(|doc: &mut Document<'_>| {
//!         if doc.document_type() == Some("Trace") && doc.field("Message").is_some_and(|m| m.contains('@')) {
//!             doc.set_field("Message", "REDACTED");
//!         }
//!         true
//!     });
//! # let _ = builder;
//! ```

use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tracing_insights_export::chain::{run_chain, Verdict};

/// One sample document on its way out, as this exporter's own mutable view of it.
#[derive(Debug)]
pub struct Document<'a> {
    doc: &'a mut Map<String, Value>,
}

impl Document<'_> {
    /// `Request`, `RemoteDependency`, `Exception` or `Trace`.
    pub fn document_type(&self) -> Option<&str> {
        self.doc.get("DocumentType")?.as_str()
    }

    /// A string field: `Name`, `Url`, `ResponseCode`, `Duration` (requests); `Name`,
    /// `CommandName`, `ResultCode`, `Duration` (dependencies); `ExceptionType`,
    /// `ExceptionMessage` (exceptions); `Message` (log lines).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.doc.get(name)?.as_str()
    }

    /// Every string field but `DocumentType`, in the document's order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.doc
            .iter()
            .filter(|(k, _)| *k != "DocumentType")
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }

    /// Adds or replaces a field (`DocumentType` cannot be changed: the portal needs it).
    pub fn set_field(&mut self, name: &str, value: impl Into<String>) {
        if name != "DocumentType" {
            self.doc
                .insert(name.to_owned(), Value::String(value.into()));
        }
    }

    /// Removes a field, returning its value (`DocumentType` stays).
    pub fn remove_field(&mut self, name: &str) -> Option<String> {
        if name == "DocumentType" {
            return None;
        }
        match self.doc.remove(name)? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

/// Sees each sample document before it is posted; returns `false` to drop it. Any
/// `Fn(&mut Document<'_>) -> bool + Send + Sync` closure is one.
pub trait DocumentProcessor: Send + Sync + 'static {
    /// Changes `doc` in place; `false` drops it.
    fn process(&self, doc: &mut Document<'_>) -> bool;
}

impl<F> DocumentProcessor for F
where
    F: Fn(&mut Document<'_>) -> bool + Send + Sync + 'static,
{
    fn process(&self, doc: &mut Document<'_>) -> bool {
        self(doc)
    }
}

/// The builder's processors and what they dropped.
#[derive(Default)]
pub(crate) struct Processors {
    list: Vec<Arc<dyn DocumentProcessor>>,
    dropped: AtomicU64,
    panics: AtomicU64,
}

impl std::fmt::Debug for Processors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processors")
            .field("len", &self.list.len())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl Processors {
    pub(crate) fn new(list: Vec<Arc<dyn DocumentProcessor>>) -> Self {
        Self {
            list,
            ..Self::default()
        }
    }

    /// Runs the processors on every document, keeping those all of them kept.
    pub(crate) fn apply(&self, mut docs: Vec<Value>) -> Vec<Value> {
        if self.list.is_empty() {
            return docs;
        }
        docs.retain_mut(|d| match d.as_object_mut() {
            Some(doc) => self.keep(doc),
            None => true,
        });
        docs
    }

    fn keep(&self, doc: &mut Map<String, Value>) -> bool {
        let verdict = run_chain(&self.list, |p| p.process(&mut Document { doc }));
        if verdict == Verdict::Panicked {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
        if !verdict.is_kept() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        verdict.is_kept()
    }

    /// Documents dropped (panics included).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Panics caught in a processor.
    pub(crate) fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }
}
