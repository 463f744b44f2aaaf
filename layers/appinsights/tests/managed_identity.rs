//! `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` without a token provider: the layer builds the
//! environment's managed identity itself. A loopback fake identity endpoint
//! (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`, as App Service sets them) hands out the token;
//! a loopback ingestion endpoint sees it as the bearer token. Nothing contacts the instance
//! metadata service.

use std::time::Duration;
use tracing_insights_appinsights::{AppInsightsLayer, Env};
use tracing_insights_testing::http::{LoopbackServer, Reply};
use tracing_insights_testing::loopback_receiver as receiver;
use tracing_subscriber::prelude::*;

const KEY: &str = "0123abcd-0000-4000-8000-000000000000";

#[test]
fn the_authentication_string_uses_the_environments_managed_identity() {
    let identity = LoopbackServer::start(|_| {
        Reply::status(200)
            .header("Content-Type", "application/json")
            .body(
                r#"{"access_token":"mi-token-1","expires_on":"4000000000","token_type":"Bearer"}"#,
            )
    });
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port}"
        ))
        .with_env(Env::from_pairs([
            (
                "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
                "Authorization=AAD;ClientId=cid-42".to_owned(),
            ),
            ("IDENTITY_ENDPOINT", identity.url("/msi/token")),
            ("IDENTITY_HEADER", "identity-header-secret".to_owned()),
        ]))
        .with_resource_metric(false)
        .with_metrics(false)
        .build()
        .expect("AAD without a token provider builds the managed identity");
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
    guard.shutdown(Duration::from_secs(20)).unwrap();

    let asked = identity.requests();
    assert_eq!(asked.len(), 1, "one token, cached");
    let r = &asked[0];
    assert!(r.path.starts_with("/msi/token?"), "{}", r.path);
    assert!(r.path.contains("api-version=2019-08-01"), "{}", r.path);
    assert!(r.path.contains("client_id=cid-42"), "{}", r.path);
    assert!(
        r.path
            .contains("resource=https%3A%2F%2Fmonitor.azure.com%2F&"),
        "the scope's resource: {}",
        r.path
    );
    assert_eq!(
        r.header("x-identity-header"),
        Some("identity-header-secret")
    );

    let got = captured.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert!(
        got[0]
            .headers
            .iter()
            .any(|h| h == "authorization: bearer mi-token-1"),
        "{:?}",
        got[0].headers
    );
}

#[test]
fn an_identity_endpoint_error_is_reported_not_panicked() {
    let identity = LoopbackServer::start(|_| {
        Reply::status(400)
            .body(r#"{"error":"invalid_request","error_description":"Identity not found"}"#)
    });
    let (port, captured) = receiver();
    let (layer, guard) = AppInsightsLayer::builder()
        .with_connection_string(format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:{port};Authorization=AAD"
        ))
        .with_env(Env::from_pairs([
            ("MSI_ENDPOINT", identity.url("/msi")),
            ("MSI_SECRET", "s".to_owned()),
        ]))
        .with_resource_metric(false)
        .with_metrics(false)
        .with_offline_storage(false)
        .with_retries(1, Duration::from_millis(10))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_insights_correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
    let _ = guard.shutdown(Duration::from_secs(20));
    let asked = identity.requests();
    assert!(!asked.is_empty());
    assert!(
        asked[0].path.contains("api-version=2017-09-01"),
        "{}",
        asked[0].path
    );
    assert_eq!(asked[0].header("secret"), Some("s"));
    assert!(
        captured.lock().unwrap().is_empty(),
        "nothing sent without a token"
    );
}
