//! An event as a log record: Message, Exception, Event or Availability.

use super::attributes::{
    measurements, sample_rate, Attrs, MAX_DATA, MAX_MESSAGE, MAX_NAME, MAX_PROP_KEY,
    MAX_PROP_VALUE, RESERVED,
};
use super::part_a::{field_tags, PartA};
use super::{envelope, AVAILABILITY, EVENT, EXCEPTION, MESSAGE};
use crate::text::{truncate, truncate_owned, value_string};
use serde_json::{json, Map, Value};
use std::time::SystemTime;
use tracing_insights_correlation::FieldValue;

/// What the layer learnt about an event's `&dyn Error` field beyond its messages: the type
/// name of the error and of each `source()` (outermost first; `None` when unknown) and the
/// backtrace captured with it.
#[derive(Debug, Default, Clone)]
pub(crate) struct ErrorExtra {
    pub(crate) types: Vec<Option<&'static str>>,
    pub(crate) backtrace: Option<String>,
}

/// Where an event happened: its span's ids and fields (for `session.id` and `sampleRate`).
pub(crate) struct EventSpan<'a> {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
    pub(crate) fields: &'a [(&'static str, FieldValue)],
    pub(crate) sampler_rate: f64,
}

/// Log attributes Microsoft's log exporter consumes (they become envelope fields, not
/// properties), plus this layer's own
/// reserved event fields.
pub(super) fn log_property_filtered(k: &str) -> bool {
    matches!(
        k,
        "exception.type"
            | "exception.message"
            | "exception.stacktrace"
            | "exception.escaped"
            | "APPLICATION_INSIGHTS_EVENT_MARKER_ATTRIBUTE"
            | "microsoft.custom_event.name"
            | "microsoft.custom_measurements"
            | "enduser.id"
            | "enduser.pseudo.id"
            | "session.id"
            | "message"
            | "error"
    ) || k.starts_with("microsoft.availability.")
        || RESERVED.contains(&k)
}

pub(super) fn log_properties(a: Attrs<'_>, logger: &str) -> Map<String, Value> {
    let mut props = Map::new();
    for (k, v) in a.0 {
        if k.is_empty() || k.chars().count() > MAX_PROP_KEY || log_property_filtered(k) {
            continue;
        }
        props.insert(
            (*k).to_owned(),
            Value::String(truncate_owned(value_string(v), MAX_PROP_VALUE)),
        );
    }
    if !logger.is_empty() && !props.contains_key("logger_name") {
        props.insert("logger_name".into(), json!(logger));
    }
    props
}

/// The severity: the `otel.severity_number` field (OpenTelemetry's log data model, which
/// has FATAL) when given, else the `tracing` level.
pub(super) fn severity(a: Attrs<'_>, level: &tracing_core::Level) -> i64 {
    if let Some(n) = a.int("otel.severity_number") {
        return if n < 9 { 0 } else { ((n - 1) / 4 - 1).min(4) };
    }
    match *level {
        tracing_core::Level::TRACE | tracing_core::Level::DEBUG => 0,
        tracing_core::Level::INFO => 1,
        tracing_core::Level::WARN => 2,
        _ => 3,
    }
}

/// An event as a log record, as Microsoft's log exporter maps one: an Exception (`exception.type` /
/// `exception.message` fields, or an `error` field holding a `&dyn Error`), an Event
/// (`microsoft.custom_event.name`), an Availability (`microsoft.availability.*`) or a
/// Message. Inside a span it carries the span's ids; outside, no operation ids. `logger` is the event's target.
#[allow(clippy::too_many_arguments)]
pub(crate) fn event_envelope(
    part_a: &PartA,
    ikey: &str,
    time: SystemTime,
    level: &tracing_core::Level,
    logger: &str,
    fields: &[(&'static str, FieldValue)],
    span: Option<&EventSpan<'_>>,
    extra: Option<&ErrorExtra>,
) -> Value {
    let a = Attrs(fields);
    let mut tags = part_a.tags();
    // Events inside a kept span carry its sampling rate, so counts stay right.
    let sample = span.and_then(|sp| sample_rate(Attrs(sp.fields), sp.sampler_rate));
    if let Some(sp) = span {
        tags.set("ai.operation.id", sp.trace_id.clone());
        tags.set("ai.operation.parentId", sp.span_id.clone());
        if !a.has("session.id") {
            if let Some(FieldValue::Str(v)) = Attrs(sp.fields).get("session.id") {
                tags.set("ai.session.id", v.clone());
            }
        }
    }
    field_tags(a, &mut tags);
    if let Some(ip) = a.first(&["client.address", "http.client_ip", "net.peer.ip"]) {
        tags.set("ai.location.ip", ip);
    }
    let severity = severity(a, level);
    // A span event named "exception" (OpenTelemetry's convention) has no body of its own.
    let named_exception = a.s("message").as_deref() == Some("exception");
    let body = a.s("message").filter(|_| !named_exception);
    let error = a.0.iter().find_map(|(_, v)| match v {
        FieldValue::Error(e) => Some(e),
        _ => None,
    });
    let props = log_properties(a, logger);
    let meas = measurements(a);
    // The rule Live Metrics counts `Exceptions/Sec` by, so both layers agree.
    if tracing_insights_azure::classify::is_exception(fields) {
        // An explicit `exception.type` wins, then the Rust type recorded with the error,
        // then the OpenTelemetry `error.type`.
        let types = extra.map(|x| x.types.as_slice()).unwrap_or_default();
        let type_name = a
            .s("exception.type")
            .or_else(|| types.first().copied().flatten().map(str::to_owned))
            .or_else(|| a.s("error.type"))
            .unwrap_or_else(|| "Exception".into());
        // The body (Microsoft's rule); with an error field, the body gives the context and
        // the error its own message ("chat failed: provider rate-limited the request"), so
        // the outer error's message is not lost.
        let msg = match (body.clone(), error) {
            (Some(b), Some(e)) if !e.message.is_empty() && b != e.message => {
                format!("{b}: {}", e.message)
            }
            (b, _) => b
                .or_else(|| a.s("exception.message"))
                .or_else(|| error.map(|e| e.message.clone()))
                .unwrap_or_else(|| "Exception".into()),
        };
        let stack = a
            .s("exception.stacktrace")
            .or_else(|| extra.and_then(|x| x.backtrace.clone()));
        let mut detail = Map::new();
        detail.insert("typeName".into(), json!(truncate(&type_name, MAX_NAME)));
        detail.insert("message".into(), json!(truncate(&msg, MAX_MESSAGE)));
        detail.insert("hasFullStack".into(), json!(stack.is_some()));
        if let Some(st) = stack {
            detail.insert("stack".into(), json!(truncate(&st, MAX_MESSAGE)));
        }
        let mut exceptions = vec![Value::Object(detail)];
        if let Some(e) = error {
            // The `source()` chain, outermost first, each pointing at the one it caused.
            if !e.sources.is_empty() {
                if let Some(Value::Object(first)) = exceptions.first_mut() {
                    first.insert("id".into(), json!(0));
                }
                for (i, src) in e.sources.iter().enumerate() {
                    exceptions.push(json!({
                        "id": i + 1,
                        "outerId": i,
                        "typeName": types.get(i + 1).copied().flatten().unwrap_or("Error"),
                        "message": truncate(src, MAX_MESSAGE),
                        "hasFullStack": false,
                    }));
                }
            }
        }
        let bd = json!({
            "ver": 2,
            "severityLevel": severity,
            "properties": props,
            "measurements": meas,
            "exceptions": exceptions,
        });
        envelope(EXCEPTION, ikey, time, tags, sample, "ExceptionData", bd)
    } else if let Some(name) = a.s("microsoft.custom_event.name").or_else(|| {
        a.has("APPLICATION_INSIGHTS_EVENT_MARKER_ATTRIBUTE")
            .then(|| body.clone().unwrap_or_default())
    }) {
        let bd = json!({
            "ver": 2,
            "name": truncate(&name, 512),
            "properties": props,
            "measurements": meas,
        });
        envelope(EVENT, ikey, time, tags, sample, "EventData", bd)
    } else if let (Some(id), Some(name), Some(duration), Some(success)) = (
        a.s("microsoft.availability.id"),
        a.s("microsoft.availability.name"),
        a.s("microsoft.availability.duration"),
        a.s("microsoft.availability.success"),
    ) {
        let mut bd = Map::new();
        bd.insert("ver".into(), json!(2));
        bd.insert("id".into(), json!(truncate(&id, 512)));
        bd.insert("name".into(), json!(truncate(&name, MAX_NAME)));
        bd.insert("duration".into(), json!(duration));
        bd.insert(
            "success".into(),
            json!(success.eq_ignore_ascii_case("true")),
        );
        if let Some(loc) = a.s("microsoft.availability.runLocation") {
            bd.insert("runLocation".into(), json!(truncate(&loc, MAX_NAME)));
        }
        if let Some(m) = a.s("microsoft.availability.message").or(body) {
            bd.insert("message".into(), json!(truncate(&m, MAX_DATA)));
        }
        bd.insert("properties".into(), Value::Object(props));
        bd.insert("measurements".into(), Value::Object(meas));
        envelope(
            AVAILABILITY,
            ikey,
            time,
            tags,
            sample,
            "AvailabilityData",
            Value::Object(bd),
        )
    } else {
        let message = body.unwrap_or_default();
        let message = truncate(&message, MAX_MESSAGE).trim();
        let message = if message.is_empty() { "n/a" } else { message };
        let bd = json!({
            "ver": 2,
            "message": message,
            "severityLevel": severity,
            "properties": props,
            "measurements": meas,
        });
        envelope(MESSAGE, ikey, time, tags, sample, "MessageData", bd)
    }
}
