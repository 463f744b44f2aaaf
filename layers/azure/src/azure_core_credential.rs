//! The Azure SDK for Rust's credentials as a [`TokenProvider`] (feature `azure-core`).

use crate::auth::{AccessToken, TokenError, TokenProvider};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

/// Any `azure_core::credentials::TokenCredential` (from `azure_identity`:
/// `ManagedIdentityCredential`, `WorkloadIdentityCredential`, `ClientSecretCredential`,
/// `DeveloperToolsCredential`, ...) as a [`TokenProvider`], so managed identity, workload
/// identity and client secrets come from Microsoft's crate, not ours.
///
/// The SDK's credentials are `async` and use a tokio-based HTTP client; this adapter owns a
/// small current-thread tokio runtime to drive them. It is only ever called on the
/// exporters' own worker threads (never on the application's), and tokens are cached by the
/// exporter until near expiry, so the runtime runs rarely.
///
/// ```
/// # #[cfg(any())] {
/// let credential = azure_identity::ManagedIdentityCredential::new(None)?;
/// let (layer, guard) = tracing_insights_appinsights::AppInsightsLayer::builder()
///     .with_token_provider(tracing_insights_azure::AzureCredential::new(credential))
///     .build()?;
/// # }
/// ```
pub struct AzureCredential {
    credential: Arc<dyn azure_core::credentials::TokenCredential>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl fmt::Debug for AzureCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The credential's own Debug is the SDK's `SafeDebug`; no token is held here.
        f.debug_struct("AzureCredential")
            .field("credential", &self.credential)
            .finish_non_exhaustive()
    }
}

impl AzureCredential {
    /// Wraps an Azure SDK credential.
    pub fn new(credential: Arc<dyn azure_core::credentials::TokenCredential>) -> Self {
        Self {
            credential,
            runtime: OnceLock::new(),
        }
    }
}

impl TokenProvider for AzureCredential {
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("could not start the token runtime: {e}"))
            })
            .as_ref()
            .map_err(|e| TokenError(e.clone()))?;
        let token = runtime
            .block_on(self.credential.get_token(&[scope], None))
            // The SDK's error says which credential failed and why; it holds no secret.
            .map_err(|e| TokenError(format!("Azure credential: {e}")))?;
        let nanos = token.expires_on.unix_timestamp_nanos();
        let expires_on = u64::try_from(nanos)
            .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
            .unwrap_or(UNIX_EPOCH);
        Ok(AccessToken::new(token.token.secret(), expires_on))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azure_core::credentials::{TokenCredential, TokenRequestOptions};
    use std::sync::Mutex;
    use std::time::SystemTime;

    #[derive(Debug, Default)]
    struct Fake {
        scopes: Mutex<Vec<String>>,
        fail: bool,
    }

    #[async_trait::async_trait]
    impl TokenCredential for Fake {
        async fn get_token(
            &self,
            scopes: &[&str],
            _: Option<TokenRequestOptions<'_>>,
        ) -> azure_core::Result<azure_core::credentials::AccessToken> {
            self.scopes
                .lock()
                .unwrap()
                .extend(scopes.iter().map(|s| (*s).to_owned()));
            // Yield once, as a real credential awaiting its HTTP call would.
            tokio::task::yield_now().await;
            if self.fail {
                return Err(azure_core::Error::with_message(
                    azure_core::error::ErrorKind::Credential,
                    "no managed identity endpoint",
                ));
            }
            Ok(azure_core::credentials::AccessToken::new(
                "sdk-token",
                azure_core::time::OffsetDateTime::from_unix_timestamp(2_000_000_000).unwrap(),
            ))
        }
    }

    #[test]
    fn adapts_an_sdk_credential_and_its_expiry() {
        let fake = Arc::new(Fake::default());
        let adapter = AzureCredential::new(fake.clone());
        let token = adapter
            .get_token("https://monitor.azure.com//.default")
            .unwrap();
        assert_eq!(token.secret(), "sdk-token");
        assert_eq!(
            token.expires_on(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
        assert_eq!(
            *fake.scopes.lock().unwrap(),
            ["https://monitor.azure.com//.default"]
        );
        assert!(!format!("{adapter:?}").contains("sdk-token"));
    }

    #[test]
    fn sdk_errors_become_token_errors() {
        let adapter = AzureCredential::new(Arc::new(Fake {
            fail: true,
            ..Fake::default()
        }));
        let err = adapter.get_token("scope").unwrap_err();
        assert!(err.0.contains("no managed identity endpoint"), "{}", err.0);
    }
}
