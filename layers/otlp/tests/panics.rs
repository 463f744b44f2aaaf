//! An application value whose `Debug` panics while the OTLP layer records it: the panic is
//! caught where the value is formatted (the correlation crate's bounded formatting, which
//! counts it), never reaches the application, and the event still arrives with the
//! placeholder in place of the value.

mod common;

use common::Receiver;
use std::time::Duration;
use tracing_insights_correlation as correlation;
use tracing_insights_otlp::{EnvVars, OtlpLayer};
use tracing_subscriber::prelude::*;

struct Boom;

impl std::fmt::Debug for Boom {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Debug of an application value panicked")
    }
}

#[test]
fn a_panic_in_a_callback_is_contained_and_counted() {
    let rx = Receiver::start();
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::empty())
        .with_endpoint(rx.base.clone())
        .with_metrics(false)
        .with_batch_delay(Duration::from_millis(20))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let survived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("request").in_scope(|| {
                tracing::info!(value = ?Boom, "this event keeps its other fields");
                tracing::info!("this one arrives");
            });
        });
    }));
    assert!(survived.is_ok(), "the panic did not reach the application");
    assert!(correlation::contained_panics() >= 1);
    guard.shutdown(Duration::from_secs(5)).unwrap();
    let bodies: Vec<String> = rx
        .logs()
        .iter()
        .filter_map(|l| match l.body.as_ref()?.value.as_ref()? {
            tracing_insights_otlp::proto::common::v1::any_value::Value::StringValue(s) => {
                Some(s.clone())
            }
            _ => None,
        })
        .collect();
    assert!(bodies.iter().any(|b| b == "this one arrives"), "{bodies:?}");
    assert!(
        bodies
            .iter()
            .any(|b| b == "this event keeps its other fields"),
        "{bodies:?}"
    );
    let placeholder = rx.logs().iter().any(|l| {
        l.attributes.iter().any(|kv| {
            kv.key == "value"
                && matches!(
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                    Some(tracing_insights_otlp::proto::common::v1::any_value::Value::StringValue(s))
                        if s == correlation::DEBUG_PANICKED
                )
        })
    });
    assert!(placeholder, "the value is the placeholder");
    assert_eq!(rx.spans().len(), 1, "the span still arrives");
}
