//! The encoder thread's work for one request, callable from a benchmark (feature `testing`):
//! a server span with three nested children (four fields each) and one log line in the
//! innermost span, the workload of the repository's benches, mapped and encoded exactly as
//! the encoder thread does it (standard metrics and performance counters on, as by default).

use crate::encoder::{encode_event, encode_span_input, EventJob, EventSpanJob};
use crate::mapping::SpanInput;
use crate::metrics::Metrics;
use crate::processor::TelemetryProcessor;
use crate::shared::{Derived, Shared};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_core::Level;
use tracing_insights_correlation::{FieldValue, Resource, SpanKind, SpanStatus};

type Fields = Vec<(&'static str, FieldValue)>;

/// splitmix64: a different, random-looking id per request.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One request's spans and log line, ready to be encoded again and again.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct EncodeBench {
    shared: Shared,
    spans: Vec<(&'static str, SpanKind, Fields, String, Option<String>)>,
    event: EventJob,
}

fn s(v: &str) -> FieldValue {
    FieldValue::Str(v.into())
}

impl EncodeBench {
    /// The workload; with `processor`, one telemetry processor that keeps everything.
    pub fn new(processor: bool) -> Self {
        let processors: Vec<Arc<dyn TelemetryProcessor>> = if processor {
            vec![Arc::new(|_: &mut crate::Telemetry<'_>| true)]
        } else {
            Vec::new()
        };
        let resource = Resource::from_attributes([
            ("service.name", "chat-api"),
            ("service.instance.id", "chat-api-7d9f8b6c5-x2x4q"),
        ]);
        let shared = Shared::new(
            "00000000-0000-0000-0000-000000000000".into(),
            None,
            None,
            Some(resource),
            Metrics::new(2000),
            Derived {
                standard: true,
                perf: true,
                processors,
            },
        );
        let trace = "5ff7651916cd43dd8448eb211c80319c";
        let spans = vec![
            (
                "request",
                SpanKind::Server,
                vec![
                    ("http.method", s("POST")),
                    ("http.route", s("/chat")),
                    ("user.id", FieldValue::U64(42)),
                    ("client.address", s("10.0.0.1")),
                ],
                "6000000000000001".to_owned(),
                None,
            ),
            (
                "retrieve",
                SpanKind::Client,
                vec![
                    ("db.system", s("qdrant")),
                    ("db.collection", s("docs")),
                    ("top_k", FieldValue::U64(8)),
                    ("cached", FieldValue::Bool(false)),
                ],
                "6000000000000002".to_owned(),
                Some("6000000000000001".to_owned()),
            ),
            (
                "embed",
                SpanKind::Internal,
                vec![
                    ("model", s("text-embedding-3-small")),
                    ("tokens", FieldValue::U64(412)),
                    ("dims", FieldValue::I64(1536)),
                    ("score", FieldValue::F64(0.5)),
                ],
                "6000000000000003".to_owned(),
                Some("6000000000000002".to_owned()),
            ),
            (
                "http",
                SpanKind::Client,
                vec![
                    ("http.request.method", s("POST")),
                    ("url.path", s("/v1/embeddings")),
                    ("http.response.status_code", FieldValue::U64(200)),
                    ("server.address", s("api.example.com")),
                ],
                "6000000000000004".to_owned(),
                Some("6000000000000003".to_owned()),
            ),
        ];
        let event = EventJob {
            time: UNIX_EPOCH + Duration::from_micros(1_764_000_000_123_456),
            level: Level::INFO,
            target: "tracing_insights_benches",
            fields: vec![("message", s("retrieved")), ("docs", FieldValue::U64(4))],
            extra: None,
            span: Some(EventSpanJob::new(
                trace.to_owned(),
                "6000000000000004".to_owned(),
                &[],
                100.0,
            )),
        };
        Self {
            shared,
            spans,
            event,
        }
    }

    /// Encodes request `n`'s five envelopes (the log line, then the spans innermost first,
    /// as they close), handing each to `out`. Ids, times and `user.id` differ per request
    /// (random ids, as on the wire, so compression sees what it would).
    pub fn request(&mut self, n: u64, out: &mut dyn FnMut(Vec<u8>)) {
        let trace = format!("{:016x}{:016x}", mix(n), mix(!n));
        let ids: Vec<String> = (0..4).map(|i| format!("{:016x}", mix(n * 8 + i))).collect();
        let start = UNIX_EPOCH + Duration::from_micros(1_764_000_000_000_000 + n * 3_000);
        self.spans[0].2[2].1 = FieldValue::U64(n);
        self.event.time = start + Duration::from_micros(1_234);
        if let Some(sp) = &mut self.event.span {
            sp.trace_id.clone_from(&trace);
            sp.span_id.clone_from(&ids[3]);
        }
        encode_event(&self.shared, &mut |b, _| out(b), &self.event);
        for (i, (name, kind, fields, _, _)) in self.spans.iter().enumerate().rev() {
            let input = SpanInput {
                name,
                kind: *kind,
                status: SpanStatus::Unset,
                fields,
                trace_id: trace.clone(),
                span_id: ids[i].clone(),
                parent_id: i.checked_sub(1).map(|p| ids[p].clone()),
                links: &[],
                start: start + Duration::from_micros(10 * i as u64 + n % 7),
                end: start + Duration::from_micros(2_500 - 10 * i as u64 - n % 13),
                sampler_rate: 100.0,
            };
            encode_span_input(&self.shared, &mut |b, _| out(b), &input, false, true, None);
        }
    }

    /// The `_OTELRESOURCE_` metric put first in every request body.
    pub fn resource_metric(&self) -> Vec<u8> {
        let env = crate::mapping::resource_metric(
            self.shared.part_a(),
            &self.shared.ikey,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
            None,
        );
        serde_json::to_vec(&env).unwrap_or_default()
    }
}
