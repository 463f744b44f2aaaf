//! The facade's promise: one stack of stock `tracing-subscriber` pieces (a reloadable global
//! `EnvFilter`, per-layer filters, `Option` layers switched per environment) and every sink
//! shows the same ids.

use tracing::subscriber::with_default;
use tracing_insights::correlation::{self, CorrelationSpanExt};
use tracing_insights_testing::CaptureWriter;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::{fmt, prelude::*, reload};

#[test]
fn json_and_text_sinks_show_the_same_ids_under_a_reloadable_filter() {
    let json_out = CaptureWriter::new();
    let text_out = CaptureWriter::new();
    let prod = true;
    let (global, handle) = reload::Layer::new(EnvFilter::new("info"));
    let subscriber = tracing_subscriber::registry()
        .with(global)
        .with(correlation::layer())
        .with(prod.then(|| {
            correlation::json()
                .layer()
                .with_writer(json_out.clone())
                .with_filter(LevelFilter::DEBUG)
        }))
        .with((!prod).then(|| fmt::layer().compact()))
        .with(
            fmt::layer()
                .event_format(correlation::text())
                .with_writer(text_out.clone())
                .with_filter(EnvFilter::new("warn")),
        );

    let ids = with_default(subscriber, || {
        let request = tracing::info_span!("POST /chat", otel.kind = "server");
        let _r = request.enter();
        tracing::info!("json only");
        let llm = tracing::info_span!("chat gpt-4o", otel.kind = "client");
        let _l = llm.enter();
        tracing::warn!("both sinks");
        // Turn the global filter up at run time: ids of existing spans do not change.
        handle
            .modify(|f| *f = EnvFilter::new("debug"))
            .expect("reload");
        tracing::debug!("debug after reload");
        (request.trace_id().unwrap(), llm.span_id().unwrap())
    });

    let json = json_out.json_lines();
    assert_eq!(json.len(), 3, "{json:?}");
    for line in &json {
        assert_eq!(line["operation_Id"], ids.0.to_string());
    }
    assert_eq!(json[1]["operation_ParentId"], ids.1.to_string());
    assert_eq!(json[2]["fields"]["message"], "debug after reload");
    let text = text_out.contents();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&format!(
        "operation_Id={} operation_ParentId={}",
        ids.0, ids.1
    )));
}

#[test]
fn boxed_layers_and_layer_vectors_keep_ids() {
    let out = CaptureWriter::new();
    let layers: Vec<Box<dyn tracing_subscriber::Layer<_> + Send + Sync>> = vec![
        correlation::layer().boxed(),
        correlation::json().layer().with_writer(out.clone()).boxed(),
    ];
    let subscriber = tracing_subscriber::registry().with(layers);
    let trace = with_default(subscriber, || {
        let span = tracing::info_span!("boxed");
        span.in_scope(|| tracing::info!("inside"));
        span.trace_id().unwrap()
    });
    assert_eq!(out.json_lines()[0]["operation_Id"], trace.to_string());
}
