//! Entra ID end to end against a loopback ingestion server and a fake token provider:
//! the bearer token is on the wire, cached, and a 401 makes the pipeline fetch a new token
//! once and re-send at once.

#[path = "../../export/tests/common/mod.rs"]
mod common;

use common::{Reply, Server};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing_insights_azure::auth::scope_for;
use tracing_insights_azure::{AccessToken, BearerAuth, TokenError};
use tracing_insights_export::{ExportBuilder, OfflineStorage};

fn provider(
    calls: Arc<AtomicU32>,
) -> impl Fn(&str) -> Result<AccessToken, TokenError> + Send + Sync {
    move |scope: &str| {
        assert_eq!(scope, "https://monitor.azure.com//.default");
        let n = calls.fetch_add(1, Ordering::SeqCst);
        Ok(AccessToken::new(
            format!("token-{n}"),
            SystemTime::now() + Duration::from_secs(3600),
        ))
    }
}

#[test]
fn bearer_token_on_the_wire_cached_and_refreshed_once_on_401() {
    let server = Server::start();
    server.script([Reply::status(401)]);
    let calls = Arc::new(AtomicU32::new(0));
    let auth = BearerAuth::new(Arc::new(provider(calls.clone())), scope_for(None));
    let (exp, guard) = ExportBuilder::new("entra", &server.url)
        .with_auth(Arc::new(auth))
        .with_offline_storage(OfflineStorage::Disabled)
        .with_retries(4, Duration::from_secs(5))
        .spawn()
        .unwrap();
    exp.try_send(br#""a""#.to_vec());
    guard.flush(Duration::from_secs(3)).unwrap();
    exp.try_send(br#""b""#.to_vec());
    guard.flush(Duration::from_secs(3)).unwrap();
    let seen = server.seen();
    let auths: Vec<_> = seen
        .iter()
        .map(|s| s.authorization.clone().unwrap())
        .collect();
    // 401 with token-0, at once again with token-1 (no 5 s backoff), then token-1 cached.
    assert_eq!(
        auths,
        ["Bearer token-0", "Bearer token-1", "Bearer token-1"]
    );
    assert!(seen[1].at - seen[0].at < Duration::from_secs(1));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.delivered(), ["a", "b"]);
    guard.shutdown(Duration::from_secs(2)).unwrap();
}

#[test]
fn a_second_401_is_retried_with_backoff_not_in_a_hot_loop() {
    let server = Server::start();
    server.script([Reply::status(401), Reply::status(401), Reply::status(401)]);
    let calls = Arc::new(AtomicU32::new(0));
    let auth = BearerAuth::new(Arc::new(provider(calls.clone())), scope_for(None));
    let (exp, guard) = ExportBuilder::new("entra-401", &server.url)
        .with_auth(Arc::new(auth))
        .with_offline_storage(OfflineStorage::Disabled)
        .with_retries(4, Duration::from_millis(300))
        .spawn()
        .unwrap();
    exp.try_send(br#""a""#.to_vec());
    guard.flush(Duration::from_secs(5)).unwrap();
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert!(
        seen[2].at - seen[1].at >= Duration::from_millis(150),
        "backoff after the refresh"
    );
    assert_eq!(server.delivered(), ["a"]);
    let _ = guard.shutdown(Duration::from_secs(2));
}

#[test]
fn a_failing_token_provider_is_a_retryable_error_without_secrets() {
    let server = Server::start();
    let auth = BearerAuth::new(
        Arc::new(|_: &str| -> Result<AccessToken, TokenError> {
            Err(TokenError("no managed identity here".into()))
        }),
        scope_for(None),
    );
    let (exp, guard) = ExportBuilder::new("entra-fail", &server.url)
        .with_auth(Arc::new(auth))
        .with_offline_storage(OfflineStorage::Disabled)
        .with_retries(2, Duration::from_millis(10))
        .spawn()
        .unwrap();
    exp.try_send(br#""a""#.to_vec());
    let err = guard.shutdown(Duration::from_secs(2)).unwrap_err();
    assert!(
        err.to_string().contains("no managed identity here"),
        "{err}"
    );
    assert!(server.seen().is_empty(), "nothing is sent without a token");
}
