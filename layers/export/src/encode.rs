//! How an exporter turns its items into request bodies: the [`Encoder`] each pipeline is
//! given, and [`JsonArray`], Application Insights' one (a gzipped JSON array).

use std::sync::Arc;

/// One request body, ready for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The bytes sent (already compressed when `content_encoding` says so).
    pub bytes: Vec<u8>,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// The `Content-Encoding` header (`gzip`), when the bytes are compressed.
    pub content_encoding: Option<&'static str>,
    /// Items of the encoder's own put before the batch's (a prefix item): the answer's
    /// per-item indices are shifted by this many.
    pub leading: usize,
}

/// Turns an exporter's items into request bodies. Everything here runs on the worker
/// thread, never on the application thread.
///
/// Items travel in two forms: `Item`, what the application side hands over (cheap to make),
/// and bytes, what [`prepare`](Self::prepare) makes of it on the worker: what is batched,
/// counted against the size limits, kept in the offline spool and given back to
/// [`encode`](Self::encode), in this run or, replayed from the spool, in a later one.
pub trait Encoder: Send + 'static {
    /// What the application side queues.
    type Item: Send + 'static;

    /// The size of an item, when it is known on the application thread without work: an
    /// item over the item limit is then dropped there and never queued.
    fn item_len(item: &Self::Item) -> Option<usize> {
        let _ = item;
        None
    }

    /// The bytes of an item, when it is already in its stored form: read on the
    /// application side to tell its kind when the pipeline has kinds
    /// ([`ExportBuilder::with_kinds`](crate::ExportBuilder::with_kinds)) and it is queued
    /// without one.
    fn item_bytes(item: &Self::Item) -> Option<&[u8]> {
        let _ = item;
        None
    }

    /// Whether [`prepare`](Self::prepare) cuts an item down to the item limit itself: then
    /// [`item_len`](Self::item_len) only counts against the queue's byte bound and an item
    /// over the limit is queued, not dropped, on the application side.
    const CUTS_OVERSIZED: bool = false;

    /// Makes the stored form of one item; `None` when the encoder keeps it itself (a metric
    /// measurement folded into an aggregate).
    fn prepare(&mut self, item: Self::Item) -> Option<Vec<u8>>;

    /// Items the encoder produces itself: called every collect interval
    /// ([`ExportBuilder::with_collect_interval`](crate::ExportBuilder::with_collect_interval))
    /// and on every flush and shutdown; what it returns is sent at once.
    fn collect(&mut self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// One request body for `items` (stored forms, in order). An error drops the batch
    /// (counted as rejected).
    fn encode(&mut self, items: &[Vec<u8>]) -> Result<Body, String>;
}

/// An item put first in every request, made when the request is encoded.
pub type BatchPrefix = Arc<dyn Fn() -> Option<Vec<u8>> + Send + Sync>;

/// Items that are already-encoded JSON values, sent as one JSON array per request
/// (`application/json`), gzipped unless turned off, optionally with a prefix item.
#[derive(Clone, Default)]
pub struct JsonArray {
    gzip: bool,
    prefix: Option<BatchPrefix>,
}

impl std::fmt::Debug for JsonArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonArray")
            .field("gzip", &self.gzip)
            .field("prefix", &self.prefix.is_some())
            .finish()
    }
}

impl JsonArray {
    /// A JSON array encoder; `gzip` compresses every body; `prefix` (called per request)
    /// adds an item first.
    pub fn new(gzip: bool, prefix: Option<BatchPrefix>) -> Self {
        Self { gzip, prefix }
    }
}

impl Encoder for JsonArray {
    type Item = Vec<u8>;

    fn item_len(item: &Vec<u8>) -> Option<usize> {
        Some(item.len())
    }

    fn item_bytes(item: &Vec<u8>) -> Option<&[u8]> {
        Some(item)
    }

    fn prepare(&mut self, item: Vec<u8>) -> Option<Vec<u8>> {
        Some(item)
    }

    fn encode(&mut self, items: &[Vec<u8>]) -> Result<Body, String> {
        let prefix = self.prefix.as_ref().and_then(|p| p());
        let len = items.iter().map(|i| i.len() + 1).sum::<usize>();
        let mut json = Vec::with_capacity(len + prefix.as_ref().map_or(0, Vec::len) + 2);
        json.push(b'[');
        for (i, item) in prefix.iter().chain(items.iter()).enumerate() {
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(item);
        }
        json.push(b']');
        let leading = usize::from(prefix.is_some());
        let level = self.gzip.then_some(JSON_GZIP_LEVEL);
        Ok(gzip_body(json, level, "application/json", leading))
    }
}

/// The gzip level of [`JsonArray`] bodies (Application Insights' envelopes), chosen by
/// measurement (the appinsights crate's `encode` bench, 512-envelope bodies, zlib-rs):
/// level 1 gives 68 bytes per span in 0.59 ms per body, level 4 42 bytes in 1.2 ms, level
/// 6 40 bytes in 2.0 ms. Level 4 is where the bytes stop falling faster than the time grows.
pub const JSON_GZIP_LEVEL: u32 = 4;

/// A body, gzipped when `gzip` is on (and left plain if compression fails).
pub fn maybe_gzip(raw: Vec<u8>, gzip: bool, content_type: &'static str, leading: usize) -> Body {
    gzip_body(raw, gzip.then_some(1), content_type, leading)
}

/// A body, gzipped at `level` when there is one (and left plain if compression fails).
fn gzip_body(raw: Vec<u8>, level: Option<u32>, content_type: &'static str, leading: usize) -> Body {
    if let Some(level) = level {
        if let Ok(z) = crate::gzip_level(&raw, level) {
            return Body {
                bytes: z,
                content_type,
                content_encoding: Some("gzip"),
                leading,
            };
        }
    }
    Body {
        bytes: raw,
        content_type,
        content_encoding: None,
        leading,
    }
}
