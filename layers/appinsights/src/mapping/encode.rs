//! Envelope to bytes, cut to the export queue's per-item limit.

use super::Envelope;
use serde_json::Value;
use std::cell::RefCell;

thread_local! {
    /// The buffer envelopes are written into on this thread, reused (grown to the largest
    /// envelope so far, at most the item limit plus one write's overshoot).
    static BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Writes an envelope straight to JSON in a reused buffer and returns a copy of exactly its
/// length (what the export queue keeps). Over the item limit it goes through [`encode`],
/// which cuts strings until it fits.
pub(crate) fn encode_envelope(env: &Envelope<'_>) -> Option<Vec<u8>> {
    let limit = tracing_insights_export::DEFAULT_MAX_ITEM_BYTES;
    let direct = BUF.with(|buf| {
        let mut buf = buf.try_borrow_mut().ok()?;
        buf.clear();
        super::write::write_envelope(&mut buf, env);
        let bytes = (buf.len() <= limit).then(|| buf.to_vec());
        if buf.capacity() > 4 * limit {
            *buf = Vec::with_capacity(4096);
        }
        Some(bytes)
    });
    match direct {
        Some(Some(bytes)) => Some(bytes),
        // Too large (or the buffer is in use: a panic hook running inside an encode).
        _ => encode(env.to_value()),
    }
}

/// Encodes an envelope as the export queue takes it. An envelope larger than the export's
/// per-item limit would be dropped whole; instead its exception stacks are cut first, then
/// exception messages, then the message and property values, on char boundaries, until it fits.
pub(crate) fn encode(mut env: Value) -> Option<Vec<u8>> {
    let limit = tracing_insights_export::DEFAULT_MAX_ITEM_BYTES;
    let mut bytes = serde_json::to_vec(&env).ok()?;
    for _ in 0..8 {
        if bytes.len() <= limit {
            return Some(bytes);
        }
        let mut excess = bytes.len() - limit + 256;
        let bd = &mut env["data"]["baseData"];
        let mut cut = |v: &mut Value| {
            if excess == 0 {
                return;
            }
            if let Value::String(s) = v {
                let keep = s.len().saturating_sub(excess);
                let mut at = keep;
                while at > 0 && !s.is_char_boundary(at) {
                    at -= 1;
                }
                excess = excess.saturating_sub(s.len() - at);
                s.truncate(at);
            }
        };
        if let Some(details) = bd.get_mut("exceptions").and_then(Value::as_array_mut) {
            for d in details.iter_mut() {
                if let Some(st) = d.get_mut("stack") {
                    cut(st);
                }
            }
            for d in details.iter_mut() {
                if let Some(m) = d.get_mut("message") {
                    cut(m);
                }
            }
        }
        if let Some(m) = bd.get_mut("message") {
            cut(m);
        }
        if let Some(props) = bd.get_mut("properties").and_then(Value::as_object_mut) {
            for v in props.values_mut() {
                cut(v);
            }
        }
        bytes = serde_json::to_vec(&env).ok()?;
    }
    (bytes.len() <= limit).then_some(bytes)
}
