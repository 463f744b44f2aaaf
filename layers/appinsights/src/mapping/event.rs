//! An event as a log record: Message, Exception, Event or Availability.

use super::attributes::{
    cut, measurements, sample_rate, value_cow, Attrs, MAX_DATA, MAX_MESSAGE, MAX_NAME,
    MAX_PROP_KEY, MAX_PROP_VALUE, RESERVED,
};
use super::envelope::{
    AvailabilityData, BaseData, Envelope, EventData, ExceptionData, ExceptionDetail, MessageData,
    StrMap,
};
use super::part_a::{field_tags, PartA};
use super::{envelope, AVAILABILITY, EVENT, EXCEPTION, MESSAGE};
use crate::text::{truncate, truncate_owned};
use std::borrow::Cow;
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

pub(super) fn log_properties<'a>(a: Attrs<'a>, logger: &'a str) -> StrMap<'a> {
    let mut props = StrMap::default();
    for (k, v) in a.0 {
        if k.is_empty() || k.chars().count() > MAX_PROP_KEY || log_property_filtered(k) {
            continue;
        }
        props.insert(*k, cut(value_cow(v), MAX_PROP_VALUE));
    }
    if !logger.is_empty() {
        props.insert_absent("logger_name", || Cow::Borrowed(logger));
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
pub(crate) fn event_envelope<'a>(
    part_a: &'a PartA,
    ikey: &'a str,
    time: SystemTime,
    level: &tracing_core::Level,
    logger: &'a str,
    fields: &'a [(&'static str, FieldValue)],
    span: Option<&'a EventSpan<'a>>,
    extra: Option<&'a ErrorExtra>,
) -> Envelope<'a> {
    let a = Attrs(fields);
    let mut tags = part_a.tags();
    // Events inside a kept span carry its sampling rate, so counts stay right.
    let sample = span.and_then(|sp| sample_rate(Attrs(sp.fields), sp.sampler_rate));
    if let Some(sp) = span {
        tags.set("ai.operation.id", sp.trace_id.as_str());
        tags.set("ai.operation.parentId", sp.span_id.as_str());
        if !a.has("session.id") {
            if let Some(FieldValue::Str(v)) = Attrs(sp.fields).get("session.id") {
                tags.set("ai.session.id", v.as_str());
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
        let type_name: Cow<'_, str> = match a.s("exception.type") {
            Some(t) => Cow::Owned(t),
            None => match types.first().copied().flatten() {
                Some(t) => Cow::Borrowed(t),
                None => Cow::Owned(a.s("error.type").unwrap_or_else(|| "Exception".into())),
            },
        };
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
        let mut exceptions = vec![ExceptionDetail {
            has_full_stack: stack.is_some(),
            id: None,
            message: Cow::Owned(truncate_owned(msg, MAX_MESSAGE)),
            outer_id: None,
            stack: stack.map(|st| truncate_owned(st, MAX_MESSAGE)),
            type_name: cut(type_name, MAX_NAME),
        }];
        if let Some(e) = error {
            // The `source()` chain, outermost first, each pointing at the one it caused.
            if !e.sources.is_empty() {
                exceptions[0].id = Some(0);
                for (i, src) in e.sources.iter().enumerate() {
                    exceptions.push(ExceptionDetail {
                        has_full_stack: false,
                        id: Some(i + 1),
                        message: Cow::Borrowed(truncate(src, MAX_MESSAGE)),
                        outer_id: Some(i),
                        stack: None,
                        type_name: Cow::Borrowed(
                            types.get(i + 1).copied().flatten().unwrap_or("Error"),
                        ),
                    });
                }
            }
        }
        let bd = ExceptionData {
            exceptions,
            measurements: meas,
            properties: props,
            severity_level: severity,
            ver: 2,
        };
        envelope(
            EXCEPTION,
            ikey,
            time,
            tags,
            sample,
            "ExceptionData",
            BaseData::Exception(bd),
        )
    } else if let Some(name) = a.s("microsoft.custom_event.name").or_else(|| {
        a.has("APPLICATION_INSIGHTS_EVENT_MARKER_ATTRIBUTE")
            .then(|| body.clone().unwrap_or_default())
    }) {
        let bd = EventData {
            measurements: meas,
            name: truncate_owned(name, 512),
            properties: props,
            ver: 2,
        };
        envelope(
            EVENT,
            ikey,
            time,
            tags,
            sample,
            "EventData",
            BaseData::Event(bd),
        )
    } else if let (Some(id), Some(name), Some(duration), Some(success)) = (
        a.s("microsoft.availability.id"),
        a.s("microsoft.availability.name"),
        a.s("microsoft.availability.duration"),
        a.s("microsoft.availability.success"),
    ) {
        let bd = AvailabilityData {
            duration,
            id: truncate_owned(id, 512),
            measurements: meas,
            message: a
                .s("microsoft.availability.message")
                .or(body)
                .map(|m| truncate_owned(m, MAX_DATA)),
            name: truncate_owned(name, MAX_NAME),
            properties: props,
            run_location: a
                .s("microsoft.availability.runLocation")
                .map(|l| truncate_owned(l, MAX_NAME)),
            success: success.eq_ignore_ascii_case("true"),
            ver: 2,
        };
        envelope(
            AVAILABILITY,
            ikey,
            time,
            tags,
            sample,
            "AvailabilityData",
            BaseData::Availability(bd),
        )
    } else {
        let message: Cow<'_, str> = match a.get("message").map(value_cow) {
            // The body as it is when it needs no trimming (no copy).
            Some(Cow::Borrowed(m)) if !m.is_empty() && !named_exception => {
                let cut = truncate(m, MAX_MESSAGE).trim();
                Cow::Borrowed(if cut.is_empty() { "n/a" } else { cut })
            }
            _ => {
                let message = body.unwrap_or_default();
                let message = truncate(&message, MAX_MESSAGE).trim();
                Cow::Owned(if message.is_empty() { "n/a" } else { message }.to_owned())
            }
        };
        let bd = MessageData {
            measurements: meas,
            message,
            properties: props,
            severity_level: severity,
            ver: 2,
        };
        envelope(
            MESSAGE,
            ikey,
            time,
            tags,
            sample,
            "MessageData",
            BaseData::Message(bd),
        )
    }
}
