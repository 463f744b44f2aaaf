//! A panic inside the OTLP layer's callbacks (here: an application value whose `Debug`
//! panics while the layer records it) is caught, counted, and never reaches the
//! application; everything else still arrives.

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
                tracing::info!(value = ?Boom, "this event is lost");
                tracing::info!("this one arrives");
            });
        });
    }));
    assert!(survived.is_ok(), "the panic did not reach the application");
    let stats = guard.stats();
    assert!(stats.contained_panics >= 1, "{stats:?}");
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
        !bodies.iter().any(|b| b == "this event is lost"),
        "{bodies:?}"
    );
    assert_eq!(rx.spans().len(), 1, "the span still arrives");
}
