//! Span / event → envelope, following Microsoft's exporter (`azure-monitor-opentelemetry-exporter`),
//! one file per signal: [`part_a`] (context tags), [`attributes`] (properties,
//! measurements), [`targets`] (URLs, dependency targets), [`span`], [`event`], [`metric`],
//! and [`encode`] (bytes, cut to the item limit). Each signal builds a typed [`Envelope`]
//! ([`envelope`](mod@envelope)) that borrows from the span or event, written straight to
//! bytes by [`encode_envelope`]; telemetry processors get it as a `serde_json::Value`
//! ([`Envelope::to_value`]), encoded by [`encode()`].

use std::time::SystemTime;
use time::Timestamp;

mod attributes;
mod encode;
mod envelope;
mod event;
mod metric;
mod part_a;
mod span;
mod targets;
mod time;
mod write;
#[cfg(test)]
pub(crate) use time::Timestamp as TestTimestamp;
#[cfg(test)]
mod tests;

#[cfg(feature = "testing")]
pub use attributes::span_property_filtered;
pub(crate) use encode::{encode, encode_envelope};
pub(crate) use envelope::{BaseData, Envelope, StrMap};
#[cfg(test)]
pub(crate) use envelope::{Data, DependencyData, MessageData, RequestData};
pub(crate) use event::{event_envelope, ErrorExtra, EventSpan};
pub(crate) use metric::{metric_envelope, resource_metric, standard_metric_envelope, MetricPoint};
pub(crate) use part_a::{PartA, Tags};
pub(crate) use span::{span_envelope, SpanInput};

/// Envelope names.
pub(crate) const REQUEST: &str = "Microsoft.ApplicationInsights.Request";
pub(crate) const DEPENDENCY: &str = "Microsoft.ApplicationInsights.RemoteDependency";
pub(crate) const MESSAGE: &str = "Microsoft.ApplicationInsights.Message";
pub(crate) const EXCEPTION: &str = "Microsoft.ApplicationInsights.Exception";
pub(crate) const EVENT: &str = "Microsoft.ApplicationInsights.Event";
pub(crate) const AVAILABILITY: &str = "Microsoft.ApplicationInsights.Availability";
pub(crate) const METRIC: &str = "Microsoft.ApplicationInsights.Metric";

/// One envelope: its name, key, tags, time, optional `sampleRate`, and the `data` object
/// (`baseType` + `baseData`) every signal fills in.
pub(crate) fn envelope<'a>(
    name: &'static str,
    ikey: &'a str,
    time: SystemTime,
    tags: Tags<'a>,
    sample_rate: Option<f64>,
    base_type: &'static str,
    base_data: BaseData<'a>,
) -> Envelope<'a> {
    Envelope {
        data: envelope::Data {
            base_data,
            base_type,
        },
        ikey,
        name,
        sample_rate,
        tags: tags.0,
        time: Timestamp(time),
    }
}
