//! Span / event → envelope, following Microsoft's exporter (`azure-monitor-opentelemetry-exporter`),
//! one file per signal: [`part_a`] (context tags), [`attributes`] (properties,
//! measurements), [`targets`] (URLs, dependency targets), [`span`], [`event`], [`metric`],
//! and [`encode`] (bytes, cut to the item limit). Each signal builds a `serde_json::Value`
//! through [`envelope`]; the encoder thread serialises it with [`encode()`].

use crate::text::format_time;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

mod attributes;
mod encode;
mod event;
mod metric;
mod part_a;
mod span;
mod targets;
#[cfg(test)]
mod tests;

#[cfg(feature = "testing")]
pub use attributes::span_property_filtered;
pub(crate) use encode::encode;
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
pub(crate) fn envelope(
    name: &str,
    ikey: &str,
    time: SystemTime,
    tags: Tags,
    sample_rate: Option<f64>,
    base_type: &str,
    base_data: Value,
) -> Value {
    let mut env = Map::new();
    env.insert("name".into(), json!(name));
    env.insert("iKey".into(), json!(ikey));
    env.insert("tags".into(), Value::Object(tags.0));
    env.insert("time".into(), json!(format_time(time)));
    if let Some(r) = sample_rate {
        env.insert("sampleRate".into(), json!(r));
    }
    env.insert(
        "data".into(),
        json!({"baseType": base_type, "baseData": base_data}),
    );
    Value::Object(env)
}
