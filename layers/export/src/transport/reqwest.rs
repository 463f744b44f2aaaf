//! [`ReqwestTransport`]: HTTP/1.1 and HTTP/2 over `reqwest`'s async client, driven by a
//! current-thread tokio runtime that the transport owns and builds on its first request, on
//! the thread that makes it (the exporter's worker). Nothing global: no runtime, no TLS
//! crypto provider is installed for the process.

use super::{timeout_words, HttpOptions, Method, Request, Response, Transport, MAX_ANSWER_BYTES};
use std::fmt;

/// HTTP over `reqwest`: redirects are not followed (the pipeline decides), statuses are
/// answers, proxies come from the environment (`HTTPS_PROXY`, `NO_PROXY`, ...) as reqwest
/// reads them, and TLS is the crate's `rustls` (reqwest's own rustls and provider, the
/// platform's roots), `rustls-ring` (ring, the platform's roots through
/// `rustls-platform-verifier`) or `native-tls` feature.
///
/// Called from inside a tokio runtime (an application's connectivity check on its own
/// thread, say), a request runs on a short-lived thread of its own, so the caller's runtime
/// is never blocked on nor nested.
pub struct ReqwestTransport {
    options: HttpOptions,
    client: reqwest::Client,
    runtime: Option<tokio::runtime::Runtime>,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("options", &self.options)
            .field("runtime", &self.runtime.is_some())
            .finish_non_exhaustive()
    }
}

impl ReqwestTransport {
    /// A client with these options; a bad certificate or key is an error in words.
    pub fn new(options: &HttpOptions) -> Result<Self, String> {
        Ok(Self {
            client: client(options)?,
            options: options.clone(),
            runtime: None,
        })
    }
}

impl Drop for ReqwestTransport {
    fn drop(&mut self) {
        // Without waiting: dropping a runtime the normal way blocks, which panics when the
        // transport happens to be dropped inside an application's async context.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the HTTP client's runtime: {e}"))
}

impl Transport for ReqwestTransport {
    fn send(&mut self, r: &Request<'_>) -> Result<Response, String> {
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside a runtime `block_on` panics; a thread with a runtime and client of its
            // own (the pooled connections of ours belong to our runtime) does the request.
            let options = &self.options;
            return std::thread::scope(|s| {
                s.spawn(|| {
                    let client = client(options)?;
                    runtime()?.block_on(call(&client, r))
                })
                .join()
                .unwrap_or_else(|_| Err("the HTTP request's thread failed".into()))
            });
        }
        let rt = match &self.runtime {
            Some(rt) => rt,
            None => self.runtime.insert(runtime()?),
        };
        rt.block_on(call(&self.client, r))
    }
}

async fn call(client: &reqwest::Client, r: &Request<'_>) -> Result<Response, String> {
    let mut req = match r.method {
        Method::Post => client
            .post(r.url)
            .header("Content-Type", r.body.content_type)
            .body(r.body.bytes.clone()),
        Method::Get => client.get(r.url),
    };
    if let (Method::Post, Some(enc)) = (r.method, r.body.content_encoding) {
        req = req.header("Content-Encoding", enc);
    }
    for (k, v) in r.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some(a) = r.authorization {
        let mut value = reqwest::header::HeaderValue::from_str(a)
            .map_err(|_| "the Authorization value is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        req = req.header(reqwest::header::AUTHORIZATION, value);
    }
    if let Some(t) = r.timeout {
        req = req.timeout(t);
    }
    let failed = |e: reqwest::Error| {
        format!(
            "request to {} failed: {}",
            crate::redact::redact_query(r.url),
            in_words(&e, r.timeout)
        )
    };
    let mut resp = req.send().await.map_err(failed)?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    // The body up to the limit; a body cut short by the peer keeps what arrived.
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = usize::try_from(MAX_ANSWER_BYTES).unwrap_or(usize::MAX) - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(Response::http(status, body).with_headers(headers))
}

/// reqwest's error in words, without its URL (it may carry a key) and with the cause that
/// matters: its own say `error sending request` and put the reason a few sources down.
fn in_words(e: &reqwest::Error, timeout: Option<std::time::Duration>) -> String {
    if e.is_timeout() {
        return timeout_words(timeout);
    }
    let mut words: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return format!("connection refused: nothing listens there ({io})")
                }
                std::io::ErrorKind::TimedOut => return timeout_words(timeout),
                _ => {}
            }
        }
        let mut text = s.to_string();
        if let Some(cut) = text.find(" for url (") {
            text.truncate(cut);
        }
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return format!("host not found (check the endpoint's host name): {text}");
        }
        if !words.iter().any(|w| w.contains(&text)) {
            words.push(text);
        }
        source = s.source();
    }
    words.join(": ")
}

fn client(options: &HttpOptions) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(ua) = &options.user_agent {
        b = b.user_agent(ua.as_str());
    }
    b = tls(b, options)?;
    b.build()
        .map_err(|e| format!("cannot build the HTTP client: {}", in_words(&e, None)))
}

// reqwest's own TLS (native-tls, or its rustls with its provider per client): a custom CA
// replaces the platform's roots, as on the other backends; the files are checked first so
// that their errors read alike everywhere.
#[cfg(any(
    feature = "native-tls",
    all(feature = "rustls", not(feature = "rustls-ring"))
))]
fn tls(b: reqwest::ClientBuilder, o: &HttpOptions) -> Result<reqwest::ClientBuilder, String> {
    #[cfg(feature = "native-tls")]
    let mut b = b.tls_backend_native();
    #[cfg(not(feature = "native-tls"))]
    let mut b = b.tls_backend_rustls();
    if let Some(ca) = &o.ca_pem {
        super::pem::certificates(ca)?;
        let certs = reqwest::Certificate::from_pem_bundle(ca)
            .map_err(|e| format!("the CA certificates do not load: {e}"))?;
        b = b.tls_certs_only(certs);
    }
    if let Some((cert, key)) = &o.client_identity_pem {
        super::pem::certificates(cert)?;
        super::pem::private_key(key)?;
        b = b.identity(identity(cert, key)?);
    }
    Ok(b)
}

#[cfg(feature = "native-tls")]
fn identity(cert: &[u8], key: &[u8]) -> Result<reqwest::Identity, String> {
    reqwest::Identity::from_pkcs8_pem(cert, key).map_err(|_| {
        "the client certificate and key do not load (native-tls takes a PKCS#8 key)".to_owned()
    })
}

#[cfg(all(
    feature = "rustls",
    not(feature = "rustls-ring"),
    not(feature = "native-tls")
))]
fn identity(cert: &[u8], key: &[u8]) -> Result<reqwest::Identity, String> {
    let mut pem = Vec::with_capacity(cert.len() + key.len() + 1);
    pem.extend_from_slice(cert);
    pem.push(b'\n');
    pem.extend_from_slice(key);
    reqwest::Identity::from_pem(&pem)
        .map_err(|_| "the client certificate and key do not load".to_owned())
}

#[cfg(all(feature = "rustls-ring", not(feature = "native-tls")))]
fn tls(b: reqwest::ClientBuilder, o: &HttpOptions) -> Result<reqwest::ClientBuilder, String> {
    Ok(b.tls_backend_preconfigured(super::rustls::client_config(o)?))
}

#[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
fn tls(b: reqwest::ClientBuilder, o: &HttpOptions) -> Result<reqwest::ClientBuilder, String> {
    if o.ca_pem.is_some() || o.client_identity_pem.is_some() {
        return Err("TLS certificates need the `rustls` or `native-tls` feature".into());
    }
    Ok(b)
}
