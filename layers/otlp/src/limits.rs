//! OpenTelemetry's attribute, event and link limits, applied on the worker thread when a
//! span or log record is prepared for export (never on the application thread, where the
//! correlation crate's bound, [`MAX_VALUE_BYTES`], has already cut every value once).
//!
//! | variable | default | limits |
//! |---|---|---|
//! | `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` | 262144 (the spec says unlimited; ours is the correlation crate's bound) | bytes of a string value (cut on a char boundary) |
//! | `OTEL_ATTRIBUTE_COUNT_LIMIT` | 128 | attributes per span, event, link, log record |
//! | `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` / `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT` | the general one | per signal |
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` / `OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT` | the general one | per signal |
//! | `OTEL_SPAN_EVENT_COUNT_LIMIT` / `OTEL_SPAN_LINK_COUNT_LIMIT` | 128 | events / links per span |
//! | `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT` / `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` | 128 | attributes per event / link |
//!
//! What a limit removes is counted in the message's `dropped_*_count`. Values are cut,
//! never dropped: a span or log record whose encoding would still exceed the item limit
//! has its string values (and a log record's body) cut further, halving the length until
//! it fits.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use tracing_insights_correlation::MAX_VALUE_BYTES;

/// Default of every count limit (the OpenTelemetry specification's).
pub(crate) const DEFAULT_COUNT: usize = 128;

/// The limits of one signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Bytes of a string value.
    pub(crate) value_len: usize,
    /// Attributes of a span or log record.
    pub(crate) attributes: usize,
    /// Events of a span.
    pub(crate) events: usize,
    /// Links of a span.
    pub(crate) links: usize,
    /// Attributes of an event.
    pub(crate) event_attributes: usize,
    /// Attributes of a link.
    pub(crate) link_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            value_len: MAX_VALUE_BYTES,
            attributes: DEFAULT_COUNT,
            events: DEFAULT_COUNT,
            links: DEFAULT_COUNT,
            event_attributes: DEFAULT_COUNT,
            link_attributes: DEFAULT_COUNT,
        }
    }
}

impl Limits {
    /// Applies the limits to `span`, then cuts its values further until its encoding is at
    /// most `max_bytes`.
    pub(crate) fn apply_span(&self, span: &mut Span, max_bytes: usize) {
        let mut len = self.value_len;
        loop {
            span.dropped_attributes_count +=
                cut_attributes(&mut span.attributes, self.attributes, len);
            if span.events.len() > self.events {
                span.dropped_events_count += count(span.events.len() - self.events);
                span.events.truncate(self.events);
            }
            for e in &mut span.events {
                e.dropped_attributes_count +=
                    cut_attributes(&mut e.attributes, self.event_attributes, len);
            }
            if span.links.len() > self.links {
                span.dropped_links_count += count(span.links.len() - self.links);
                span.links.truncate(self.links);
            }
            for l in &mut span.links {
                l.dropped_attributes_count +=
                    cut_attributes(&mut l.attributes, self.link_attributes, len);
            }
            if let Some(status) = &mut span.status {
                cut_string(&mut status.message, len);
            }
            if span.encoded_len() <= max_bytes || len <= 16 {
                return;
            }
            len /= 2;
        }
    }

    /// Applies the limits to `record` (its body is cut to the value length too), then cuts
    /// further until its encoding is at most `max_bytes`.
    pub(crate) fn apply_log(&self, record: &mut LogRecord, max_bytes: usize) {
        let mut len = self.value_len;
        loop {
            record.dropped_attributes_count +=
                cut_attributes(&mut record.attributes, self.attributes, len);
            if let Some(body) = &mut record.body {
                cut_value(body, len);
            }
            if record.encoded_len() <= max_bytes || len <= 16 {
                return;
            }
            len /= 2;
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Keeps the first `max` attributes and cuts their string values to `len` bytes; returns
/// how many were removed.
fn cut_attributes(attrs: &mut Vec<KeyValue>, max: usize, len: usize) -> u32 {
    let removed = attrs.len().saturating_sub(max);
    attrs.truncate(max);
    for kv in attrs.iter_mut() {
        if let Some(v) = &mut kv.value {
            cut_value(v, len);
        }
    }
    count(removed)
}

fn cut_value(v: &mut AnyValue, len: usize) {
    match &mut v.value {
        Some(any_value::Value::StringValue(s)) => cut_string(s, len),
        Some(any_value::Value::BytesValue(b)) => b.truncate(len),
        Some(any_value::Value::ArrayValue(a)) => {
            a.values.iter_mut().for_each(|v| cut_value(v, len))
        }
        Some(any_value::Value::KvlistValue(l)) => l
            .values
            .iter_mut()
            .filter_map(|kv| kv.value.as_mut())
            .for_each(|v| cut_value(v, len)),
        _ => {}
    }
}

fn cut_string(s: &mut String, len: usize) {
    if s.len() > len {
        let mut at = len;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::str_kv;
    use opentelemetry_proto::tonic::trace::v1::span::Event;

    fn huge(n: usize) -> String {
        "é".repeat(n / 2)
    }

    #[test]
    fn values_are_cut_counts_are_limited_and_removals_counted() {
        let limits = Limits {
            value_len: 10,
            attributes: 2,
            events: 1,
            ..Limits::default()
        };
        let mut span = Span {
            attributes: (0..5).map(|i| str_kv(format!("k{i}"), huge(100))).collect(),
            events: vec![Event::default(), Event::default()],
            ..Default::default()
        };
        limits.apply_span(&mut span, usize::MAX);
        assert_eq!(span.attributes.len(), 2);
        assert_eq!(span.dropped_attributes_count, 3);
        assert_eq!(span.events.len(), 1);
        assert_eq!(span.dropped_events_count, 1);
        let Some(any_value::Value::StringValue(s)) =
            &span.attributes[0].value.as_ref().unwrap().value
        else {
            panic!("a string value");
        };
        assert_eq!(s, &"é".repeat(5));
    }

    #[test]
    fn a_record_over_the_item_bound_is_cut_further_not_dropped() {
        let mut record = LogRecord {
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue(huge(MAX_VALUE_BYTES))),
            }),
            attributes: (0..8)
                .map(|i| str_kv(format!("k{i}"), huge(MAX_VALUE_BYTES)))
                .collect(),
            ..Default::default()
        };
        Limits::default().apply_log(&mut record, 1024 * 1024);
        assert!(record.encoded_len() <= 1024 * 1024);
        assert_eq!(record.attributes.len(), 8);
        assert!(record.encoded_len() > 512 * 1024, "cut no more than needed");
    }
}
