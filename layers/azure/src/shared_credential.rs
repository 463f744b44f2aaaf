//! One credential for both Azure layers: App Insights and Live Metrics given clones of one
//! [`SharedCredential`] fetch one token per scope between them, not one each.

use crate::auth::{AccessToken, BearerAuth, TokenError, TokenProvider};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// A [`TokenProvider`] that can be cloned and given to several layers
/// (`AppInsightsBuilder::with_token_provider(cred.clone())`,
/// `LiveMetricsBuilder::with_token_provider(cred)`): its clones share one token cache per
/// scope, refreshed as each layer's own cache is (five minutes before expiry).
#[derive(Clone)]
pub struct SharedCredential {
    inner: Arc<Inner>,
}

struct Inner {
    provider: Arc<dyn TokenProvider>,
    /// One caching bearer source per scope (both layers ask for the same scope).
    by_scope: Mutex<HashMap<String, Arc<BearerAuth>>>,
}

impl fmt::Debug for SharedCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCredential").finish_non_exhaustive()
    }
}

impl SharedCredential {
    /// Shares `provider` (a managed identity, an Azure SDK credential, a closure, ...).
    pub fn new(provider: impl TokenProvider) -> Self {
        Self::from_arc(Arc::new(provider))
    }

    /// Shares a provider already behind an `Arc`.
    pub fn from_arc(provider: Arc<dyn TokenProvider>) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                by_scope: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl TokenProvider for SharedCredential {
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let auth = {
            let mut map = self
                .inner
                .by_scope
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            map.entry(scope.to_owned())
                .or_insert_with(|| Arc::new(BearerAuth::new(self.inner.provider.clone(), scope)))
                .clone()
        };
        // The map's lock is not held while the provider fetches.
        auth.token()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, SystemTime};

    #[test]
    fn clones_fetch_one_token_between_them() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let shared = SharedCredential::new(move |_: &str| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new(
                "t",
                SystemTime::now() + Duration::from_secs(3600),
            ))
        });
        // What the two layers do: each wraps its clone in its own caching bearer source.
        let app_insights = BearerAuth::new(Arc::new(shared.clone()), "s");
        let live_metrics = BearerAuth::new(Arc::new(shared), "s");
        assert_eq!(app_insights.token().unwrap().secret(), "t");
        assert_eq!(live_metrics.token().unwrap().secret(), "t");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
