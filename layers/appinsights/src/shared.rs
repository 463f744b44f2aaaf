//! What the layer, the encoder thread, the metric timer and the panic hook share: the
//! instrumentation key, part A (from the correlation layer's resource), the clock, the
//! sampler's percentage and the metric store.

use crate::mapping::{self, BaseData, Envelope, PartA};
use crate::metrics::Metrics;
use crate::perf::PerfCounters;
use crate::processor::{Telemetry, TelemetryProcessor};
use crate::standard::{self, StandardMetrics};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tracing_insights_correlation::{
    find_span_data, Clock, CorrelationLayer, Resource, SpanContext, SystemClock,
};
use tracing_insights_export::chain::{run_chain, Verdict};
use tracing_subscriber::registry::LookupSpan;

/// What the builder switched on beyond the mapping: standard metrics, performance
/// counters, telemetry processors.
pub(crate) struct Derived {
    pub(crate) standard: bool,
    pub(crate) perf: bool,
    pub(crate) processors: Vec<Arc<dyn TelemetryProcessor>>,
}

pub(crate) struct Shared {
    pub(crate) ikey: String,
    pub(crate) application_id: Option<String>,
    part_a: OnceLock<PartA>,
    /// The correlation layer's clock (set when the layer is registered), unless overridden.
    clock: OnceLock<Arc<dyn Clock>>,
    /// Whether the builder set the clock (else it is the correlation layer's).
    own_clock: bool,
    /// The correlation layer's sampler percentage.
    sampler_rate: OnceLock<f64>,
    /// The resource used when no correlation layer is stacked (the builder's, else the
    /// environment's).
    fallback_resource: Option<Resource>,
    pub(crate) metrics: Metrics,
    /// Standard metrics derived from request and dependency spans (none: switched off).
    pub(crate) standard: Option<StandardMetrics>,
    /// Performance counters (none: switched off).
    pub(crate) perf: Option<PerfCounters>,
    /// Telemetry processors, in order.
    processors: Vec<Arc<dyn TelemetryProcessor>>,
    /// Items a processor dropped (by returning `false` or panicking).
    processor_dropped: AtomicU64,
    /// Whether some span has had a GenAI main-agent attribution (until then events skip
    /// the lookup).
    main_agents: AtomicBool,
    /// Whether a span callsite declaring a `gen_ai.*` or `microsoft.gen_ai.*` field was
    /// registered: until then no span can carry or pass on an attribution, and new spans
    /// skip the parent lookup (one relaxed load instead).
    agent_callsites: AtomicBool,
    /// Panics caught in a layer callback or on the encoder thread.
    panics: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        ikey: String,
        application_id: Option<String>,
        clock: Option<Arc<dyn Clock>>,
        fallback_resource: Option<Resource>,
        metrics: Metrics,
        derived: Derived,
    ) -> Self {
        let Derived {
            standard,
            perf,
            processors,
        } = derived;
        let shared = Self {
            ikey,
            application_id,
            part_a: OnceLock::new(),
            clock: OnceLock::new(),
            own_clock: clock.is_some(),
            sampler_rate: OnceLock::new(),
            fallback_resource,
            metrics,
            standard: standard.then(StandardMetrics::default),
            perf: perf.then(PerfCounters::default),
            processors,
            processor_dropped: AtomicU64::new(0),
            main_agents: AtomicBool::new(false),
            agent_callsites: AtomicBool::new(false),
            panics: AtomicU64::new(0),
        };
        if let Some(clock) = clock {
            let _ = shared.clock.set(clock);
        }
        shared
    }

    /// Takes the correlation layer's resource, clock and sampling rate (the first call wins).
    pub(crate) fn adopt(&self, correlation: &CorrelationLayer) {
        self.set_resource(correlation.resource());
        // Event and metric times come from the same clock as span times.
        let _ = self.clock.set(correlation.clock());
        let _ = self.sampler_rate.set(correlation.sampler().sample_rate());
    }

    pub(crate) fn set_resource(&self, resource: &Resource) {
        if self.part_a.get().is_none() {
            let _ = self.part_a.set(PartA::new(resource));
        }
    }

    /// Part A: the correlation layer's resource, else the fallback.
    pub(crate) fn part_a(&self) -> &PartA {
        self.part_a.get_or_init(|| match &self.fallback_resource {
            Some(r) => PartA::new(r),
            None => PartA::new(&Resource::from_env()),
        })
    }

    /// Whether the builder gave this exporter a clock of its own: then an event's time is
    /// read from it, else it is the correlation layer's record's.
    pub(crate) fn has_own_clock(&self) -> bool {
        self.own_clock
    }

    /// Event and metric times: the correlation layer's clock.
    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.get_or_init(|| Arc::new(SystemClock)).as_ref()
    }

    /// Runs `f`, containing a panic (counted): a bug here must never unwind into the
    /// application or kill a worker thread.
    pub(crate) fn contain(&self, f: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn contained_panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Counts a mapped request or dependency envelope in the standard metrics and, when
    /// `sampled` (it will be sent), marks it as counted.
    /// The request also counts in the performance counters.
    pub(crate) fn count_standard(&self, env: &mut Envelope<'_>, sampled: bool) {
        if let Some(p) = &self.perf {
            if let BaseData::Request(r) = &env.data.base_data {
                if let Some(ms) = r.duration_ms.or_else(|| standard::duration_ms(&r.duration)) {
                    p.request(ms);
                }
            }
        }
        if let Some(m) = &self.standard {
            if m.record(env) && sampled {
                standard::set_processed_flag(env);
            }
        }
    }

    /// Counts an envelope about to be sent that is an exception, for the exception rate.
    pub(crate) fn count_sent(&self, env: &Envelope<'_>) {
        if let Some(p) = &self.perf {
            if matches!(env.data.base_data, BaseData::Exception(_)) {
                p.exception();
            }
        }
    }

    /// An envelope as the bytes to queue: written straight to JSON when no telemetry
    /// processor is configured; otherwise made into the `serde_json::Value` the processors
    /// see ([`Telemetry`]), run through them, and written from that. `None`: a processor
    /// dropped it, or it cannot be cut to the item limit.
    pub(crate) fn finish(&self, env: &Envelope<'_>) -> Option<Vec<u8>> {
        if self.processors.is_empty() {
            return mapping::encode_envelope(env);
        }
        let mut value = env.to_value();
        if !self.process(&mut value) {
            return None;
        }
        mapping::encode(value)
    }

    /// Runs the telemetry processors on an item about to be encoded; `false`: drop it (a
    /// processor said so or panicked, counted).
    pub(crate) fn process(&self, env: &mut serde_json::Value) -> bool {
        let verdict = run_chain(&self.processors, |p| p.process(&mut Telemetry::new(env)));
        if verdict == Verdict::Panicked {
            self.panics.fetch_add(1, Ordering::Relaxed);
        }
        if !verdict.is_kept() {
            self.processor_dropped.fetch_add(1, Ordering::Relaxed);
        }
        verdict.is_kept()
    }

    /// Items the telemetry processors dropped (panics included).
    pub(crate) fn processor_dropped(&self) -> u64 {
        self.processor_dropped.load(Ordering::Relaxed)
    }

    /// A span got a GenAI main-agent attribution.
    pub(crate) fn saw_main_agent(&self) {
        if !self.main_agents.load(Ordering::Relaxed) {
            self.main_agents.store(true, Ordering::Relaxed);
        }
    }

    /// A span callsite that may carry an agent's fields was registered.
    pub(crate) fn saw_agent_callsite(&self) {
        self.agent_callsites.store(true, Ordering::Relaxed);
    }

    /// Whether a span may carry an agent's fields (see [`Self::saw_agent_callsite`]).
    pub(crate) fn agent_callsites_seen(&self) -> bool {
        self.agent_callsites.load(Ordering::Relaxed)
    }

    /// Whether any span has had a GenAI main-agent attribution.
    pub(crate) fn main_agents_seen(&self) -> bool {
        self.main_agents.load(Ordering::Relaxed)
    }

    pub(crate) fn sampler_rate(&self) -> f64 {
        self.sampler_rate.get().copied().unwrap_or(100.0)
    }
}

/// The context of the span current on this thread (for the panic hook): ids and the
/// sampler's percentage, when the subscriber is a `Registry` with the correlation layer.
pub(crate) fn current_span_context() -> Option<(SpanContext, f64)> {
    tracing::Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            find_span_data(&span, |d| (d.context(), d.sample_rate()))
        })
        .flatten()
}
