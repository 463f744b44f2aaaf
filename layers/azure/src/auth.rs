//! Microsoft Entra ID (AAD) authentication for ingestion, as Microsoft's exporters configure
//! it (protocol reference section 1.3).
//!
//! - A [`TokenProvider`] turns bearer auth on: every ingestion request carries
//!   `Authorization: Bearer <token>`. Bring managed identity, workload identity or a client
//!   secret from the crate of your choice by implementing this one method (a closure works).
//! - The scope is `https://monitor.azure.com//.default` (the double slash is Microsoft's), or
//!   `<AADAudience>/.default` when the connection string has `AADAudience` ([`scope`]).
//! - [`BearerAuth`] caches the token until shortly before it expires and fetches a new one on
//!   the export worker thread, never on the application thread; a 401 makes it fetch a new
//!   token once (the export pipeline calls [`RequestAuth::invalidate`]).
//! - `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`Authorization=AAD[;ClientId=<id>]`) is
//!   parsed ([`AuthenticationString`]); Microsoft builds a managed-identity credential from
//!   it. This crate contacts no metadata endpoint itself: the layers ask for a token provider
//!   when it is set.
//!
//! Nothing here logs or shows a token: [`AccessToken`]'s `Debug` is redacted and errors
//! carry only the provider's message.

use crate::ConnectionString;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tracing_insights_export::RequestAuth;

/// `Authorization=AAD[;ClientId=<id>]`: Entra ID with a (user-assigned) managed identity.
pub const AUTHENTICATION_STRING_ENV: &str = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

/// The audience used without `AADAudience` in the connection string.
pub const DEFAULT_AAD_AUDIENCE: &str = "https://monitor.azure.com/";

/// A token is refreshed this long before it expires (or at half its life if shorter).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// The token scope for a connection string: `<AADAudience or https://monitor.azure.com/>` +
/// `/.default`, so the default is `https://monitor.azure.com//.default` exactly as Microsoft's
/// exporters ask for it.
pub fn scope(cs: &ConnectionString) -> String {
    scope_for(cs.aad_audience())
}

/// [`scope`] from an audience.
pub fn scope_for(aad_audience: Option<&str>) -> String {
    format!("{}/.default", aad_audience.unwrap_or(DEFAULT_AAD_AUDIENCE))
}

/// A bearer token and when it expires.
#[derive(Clone)]
pub struct AccessToken {
    secret: String,
    expires_on: SystemTime,
}

impl AccessToken {
    /// A token valid until `expires_on`.
    pub fn new(secret: impl Into<String>, expires_on: SystemTime) -> Self {
        Self {
            secret: secret.into(),
            expires_on,
        }
    }

    /// The token itself. Keep it out of logs.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// When it expires.
    pub fn expires_on(&self) -> SystemTime {
        self.expires_on
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("expires_on", &self.expires_on)
            .finish()
    }
}

/// Why no token could be had. The message must not contain secrets.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TokenError(pub String);

/// Gets Entra ID tokens for a scope. Called on the export worker thread (it may block, for
/// at most the pipeline's request timeout, which is a sensible bound for its own I/O).
pub trait TokenProvider: Send + Sync + 'static {
    /// A token for `scope` (e.g. `https://monitor.azure.com//.default`).
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError>;
}

impl<F> TokenProvider for F
where
    F: Fn(&str) -> Result<AccessToken, TokenError> + Send + Sync + 'static,
{
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        self(scope)
    }
}

struct Cached {
    token: AccessToken,
    fetched: SystemTime,
}

/// Adds `Authorization: Bearer <token>` to export requests, caching the token (see the
/// module docs). Implements the export pipeline's [`RequestAuth`].
pub struct BearerAuth {
    provider: Arc<dyn TokenProvider>,
    scope: String,
    cache: Mutex<Option<Cached>>,
}

impl fmt::Debug for BearerAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerAuth")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl BearerAuth {
    /// Tokens for `scope` from `provider`.
    pub fn new(provider: Arc<dyn TokenProvider>, scope: impl Into<String>) -> Self {
        Self {
            provider,
            scope: scope.into(),
            cache: Mutex::new(None),
        }
    }

    /// The scope tokens are asked for.
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn fresh(c: &Cached, now: SystemTime) -> bool {
        let life = c
            .token
            .expires_on
            .duration_since(c.fetched)
            .unwrap_or(Duration::ZERO);
        let margin = REFRESH_MARGIN.min(life / 2);
        c.token
            .expires_on
            .checked_sub(margin)
            .is_some_and(|refresh_at| now < refresh_at)
    }

    /// A valid token, from the cache or the provider.
    pub fn token(&self) -> Result<AccessToken, TokenError> {
        let now = SystemTime::now();
        let mut cache = self
            .cache
            .lock()
            .map_err(|_| TokenError("token cache poisoned".into()))?;
        if let Some(c) = cache.as_ref().filter(|c| Self::fresh(c, now)) {
            return Ok(c.token.clone());
        }
        match self.provider.get_token(&self.scope) {
            Ok(token) => {
                *cache = Some(Cached {
                    token: token.clone(),
                    fetched: now,
                });
                Ok(token)
            }
            // The provider failed but the old token has not expired yet: keep using it.
            Err(e) => match cache.as_ref().filter(|c| c.token.expires_on > now) {
                Some(c) => Ok(c.token.clone()),
                None => Err(e),
            },
        }
    }
}

impl RequestAuth for BearerAuth {
    fn authorization(&self) -> Result<String, String> {
        self.token()
            .map(|t| format!("Bearer {}", t.secret))
            .map_err(|e| format!("Entra ID token for {}: {e}", self.scope))
    }

    fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            *c = None;
        }
    }
}

/// `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationString {
    /// The user-assigned managed identity's client id; `None`: system-assigned.
    pub client_id: Option<String>,
}

/// A malformed `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`.
#[derive(Clone, thiserror::Error, PartialEq, Eq)]
#[error("APPLICATIONINSIGHTS_AUTHENTICATION_STRING must be `Authorization=AAD` or `Authorization=AAD;ClientId=<id>`")]
pub struct AuthenticationStringError;

impl AuthenticationString {
    /// Parses `Authorization=AAD[;ClientId=<id>]` (keys case-insensitive, `;` separated).
    pub fn parse(s: &str) -> Result<Self, AuthenticationStringError> {
        let mut aad = false;
        let mut client_id = None;
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or(AuthenticationStringError)?;
            match k.trim().to_ascii_lowercase().as_str() {
                "authorization" if v.trim().eq_ignore_ascii_case("aad") => aad = true,
                "clientid" if !v.trim().is_empty() => client_id = Some(v.trim().to_owned()),
                _ => return Err(AuthenticationStringError),
            }
        }
        if !aad {
            return Err(AuthenticationStringError);
        }
        Ok(Self { client_id })
    }

    /// Reads [`AUTHENTICATION_STRING_ENV`]; `Ok(None)` when unset or empty.
    pub fn from_env() -> Result<Option<Self>, AuthenticationStringError> {
        Self::from_env_in(&crate::env::Env::process())
    }

    /// Reads [`AUTHENTICATION_STRING_ENV`] from `env`; `Ok(None)` when unset or empty.
    pub fn from_env_in(env: &crate::env::Env) -> Result<Option<Self>, AuthenticationStringError> {
        env.var(AUTHENTICATION_STRING_ENV)
            .map(|v| Self::parse(&v))
            .transpose()
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for AuthenticationStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthenticationStringError({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    const KEY: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn scopes_as_microsoft_builds_them() {
        let cs = ConnectionString::parse(&format!("InstrumentationKey={KEY}")).unwrap();
        assert_eq!(scope(&cs), "https://monitor.azure.com//.default");
        let cs = ConnectionString::parse(&format!(
            "InstrumentationKey={KEY};AADAudience=https://monitor.azure.us/"
        ))
        .unwrap();
        assert_eq!(scope(&cs), "https://monitor.azure.us//.default");
        assert_eq!(scope_for(Some("api://x")), "api://x/.default");
    }

    #[test]
    fn authentication_string() {
        assert_eq!(
            AuthenticationString::parse("Authorization=AAD"),
            Ok(AuthenticationString { client_id: None })
        );
        assert_eq!(
            AuthenticationString::parse(" authorization=aad ; ClientId=abc ;"),
            Ok(AuthenticationString {
                client_id: Some("abc".into())
            })
        );
        assert!(AuthenticationString::parse("Authorization=ikey").is_err());
        assert!(AuthenticationString::parse("ClientId=abc").is_err());
        assert!(AuthenticationString::parse("garbage").is_err());
    }

    #[test]
    fn tokens_are_cached_until_near_expiry_and_refreshed_after_invalidate() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let provider = move |scope: &str| {
            assert_eq!(scope, "s/.default");
            let n = c.fetch_add(1, Ordering::SeqCst);
            Ok(AccessToken::new(
                format!("t{n}"),
                SystemTime::now() + Duration::from_secs(3600),
            ))
        };
        let auth = BearerAuth::new(Arc::new(provider), "s/.default");
        assert_eq!(auth.authorization().unwrap(), "Bearer t0");
        assert_eq!(auth.authorization().unwrap(), "Bearer t0");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        auth.invalidate();
        assert_eq!(auth.authorization().unwrap(), "Bearer t1");
    }

    #[test]
    fn short_lived_tokens_refresh_at_half_life_and_failures_keep_a_valid_token() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let provider = move |_: &str| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            if n == 1 {
                return Err(TokenError("metadata endpoint unreachable".into()));
            }
            Ok(AccessToken::new(
                format!("t{n}"),
                SystemTime::now() + Duration::from_millis(400),
            ))
        };
        let auth = BearerAuth::new(Arc::new(provider), "s");
        assert_eq!(auth.authorization().unwrap(), "Bearer t0");
        std::thread::sleep(Duration::from_millis(250));
        // Past half-life: refresh fails, the still-valid token is used.
        assert_eq!(auth.authorization().unwrap(), "Bearer t0");
        assert_eq!(auth.authorization().unwrap(), "Bearer t2");
        std::thread::sleep(Duration::from_millis(450));
        assert_eq!(auth.authorization().unwrap(), "Bearer t3");
    }

    #[test]
    fn secrets_never_in_debug_or_errors() {
        let t = AccessToken::new("SECRET-TOKEN", SystemTime::now());
        assert!(!format!("{t:?}").contains("SECRET"));
        let auth = BearerAuth::new(
            Arc::new(|_: &str| Err(TokenError("no credential".into()))),
            "s",
        );
        let e = auth.authorization().unwrap_err();
        assert!(e.contains("no credential"), "{e}");
        assert!(!format!("{auth:?}").contains("SECRET"));
    }
}
