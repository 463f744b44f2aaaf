//! The correlation layer reads `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` itself.
//! One test function: it sets the process environment, which every test of a binary shares.

use std::sync::{Arc, Mutex};
use tracing::Subscriber;
use tracing_insights_correlation::testing::ScriptedIds;
use tracing_insights_correlation::{self as correlation, sampler::score, SpanData, TraceId};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// (trace id, sampled, sampleRate) of every closed span.
#[derive(Clone, Default)]
struct Decisions(Arc<Mutex<Vec<(TraceId, bool, f64)>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Decisions {
    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let ext = span.extensions();
        let d = ext.get::<SpanData>().unwrap();
        self.0
            .lock()
            .unwrap()
            .push((d.trace_id(), d.is_sampled(), d.sample_rate()));
    }
}

#[test]
fn the_layer_honours_the_sampler_variables() {
    std::env::set_var("OTEL_TRACES_SAMPLER", "microsoft.fixed_percentage");
    std::env::set_var("OTEL_TRACES_SAMPLER_ARG", "0.5");
    let ids = ScriptedIds::new();
    let traces: Vec<TraceId> = (1..=40u128)
        .map(|i| {
            TraceId::from_bytes(
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                    .to_be_bytes(),
            )
        })
        .collect();
    for t in &traces {
        ids.push_trace_id(*t);
    }
    let decisions = Decisions::default();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer().with_id_generator(ids))
        .with(decisions.clone());
    tracing::subscriber::with_default(subscriber, || {
        for _ in &traces {
            tracing::info_span!("request").in_scope(|| {});
        }
    });
    let decisions = decisions.0.lock().unwrap().clone();
    assert_eq!(decisions.len(), 40);
    let kept = decisions.iter().filter(|d| d.1).count();
    assert!(kept > 5 && kept < 35, "{kept} of 40 kept");
    for (trace, sampled, rate) in &decisions {
        assert_eq!(*sampled, score(*trace) < 0.5, "{trace}");
        assert_eq!(*rate, 50.0);
    }

    // The builder's sampler wins over the environment.
    let layer = correlation::layer().with_sampler(correlation::Sampler::always_on());
    assert_eq!(layer.sampler().sample_rate(), 100.0);

    std::env::set_var("OTEL_TRACES_SAMPLER", "microsoft.rate_limited");
    std::env::set_var("OTEL_TRACES_SAMPLER_ARG", "3");
    assert_eq!(
        correlation::layer().sampler().traces_per_second(),
        Some(3.0)
    );

    // Malformed: `layer()` keeps every trace (and says so on stderr); the builder call is
    // the error naming the variable.
    std::env::set_var("OTEL_TRACES_SAMPLER", "traceidratio");
    std::env::set_var("OTEL_TRACES_SAMPLER_ARG", "2");
    assert_eq!(
        correlation::layer().sampler(),
        correlation::Sampler::always_on()
    );
    let e = correlation::layer().with_sampler_from_env().unwrap_err();
    assert_eq!(
        e.to_string(),
        "OTEL_TRACES_SAMPLER_ARG=\"2\" is not valid: expected a sampling ratio from 0 to 1 \
         (0.25 keeps a quarter of the traces)"
    );

    std::env::remove_var("OTEL_TRACES_SAMPLER");
    std::env::remove_var("OTEL_TRACES_SAMPLER_ARG");
    let layer = correlation::layer()
        .with_sampler(correlation::Sampler::always_off())
        .with_sampler_from_env()
        .unwrap();
    assert_eq!(layer.sampler(), correlation::Sampler::always_off());
}
