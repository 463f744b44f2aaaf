//! [`UreqTransport`]: HTTP/1.1 over blocking `ureq`, the lean option (no tokio, no hyper).

use super::MAX_ANSWER_BYTES;
use super::{timeout_words, HttpOptions, Method, Request, Response, Transport};
use std::time::Duration;

/// HTTP/1.1 over `ureq` (redirects are not followed by it: the pipeline decides; statuses
/// are answers). TLS: the crate's `rustls` feature (ring, the `webpki-roots` Mozilla roots)
/// or `native-tls`.
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ::ureq::Agent,
}

impl UreqTransport {
    /// An agent with these options; a bad certificate or key is an error in words.
    pub fn new(options: &HttpOptions) -> Result<Self, String> {
        let config = ::ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0);
        #[cfg(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls"))]
        let config = config.tls_config(tls(options)?);
        #[cfg(not(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls")))]
        if options.ca_pem.is_some() || options.client_identity_pem.is_some() {
            return Err("TLS certificates need the `rustls` or `native-tls` feature".into());
        }
        let mut config = config;
        if let Some(ua) = &options.user_agent {
            config = config.user_agent(ua.as_str());
        }
        Ok(Self {
            agent: config.build().into(),
        })
    }
}

#[cfg(any(feature = "rustls", feature = "rustls-ring", feature = "native-tls"))]
fn tls(o: &HttpOptions) -> Result<::ureq::tls::TlsConfig, String> {
    use super::pem;
    use ::ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder();
    #[cfg(feature = "native-tls")]
    {
        tls = tls.provider(::ureq::tls::TlsProvider::NativeTls);
    }
    if let Some(ca) = &o.ca_pem {
        let certs: Vec<_> = pem::certificates(ca)?
            .iter()
            .map(|c| Certificate::from_der(c).to_owned())
            .collect();
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let Some((cert, key)) = &o.client_identity_pem {
        let chain: Vec<_> = pem::certificates(cert)?
            .iter()
            .map(|c| Certificate::from_der(c).to_owned())
            .collect();
        pem::private_key(key)?;
        let key = PrivateKey::from_pem(key)
            .map_err(|e| format!("the PEM private key does not load: {e}"))?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(tls.build())
}

impl Transport for UreqTransport {
    fn send(&mut self, r: &Request<'_>) -> Result<Response, String> {
        let result = match r.method {
            Method::Post => {
                let mut req = self
                    .agent
                    .post(r.url)
                    .header("Content-Type", r.body.content_type);
                for (k, v) in r.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                if let Some(enc) = r.body.content_encoding {
                    req = req.header("Content-Encoding", enc);
                }
                if let Some(a) = r.authorization {
                    req = req.header("Authorization", a);
                }
                req.config()
                    .timeout_global(r.timeout)
                    .build()
                    .send(&r.body.bytes[..])
            }
            Method::Get => {
                let mut req = self.agent.get(r.url);
                for (k, v) in r.headers {
                    req = req.header(k.as_str(), v.as_str());
                }
                if let Some(a) = r.authorization {
                    req = req.header("Authorization", a);
                }
                req.config().timeout_global(r.timeout).build().call()
            }
        };
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                    .collect();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_ANSWER_BYTES)
                    .read_to_vec()
                    .unwrap_or_default();
                Ok(Response::http(status, body).with_headers(headers))
            }
            Err(e) => Err(format!(
                "request to {} failed: {}",
                crate::redact::redact_query(r.url),
                in_words(&e, r.timeout)
            )),
        }
    }
}

/// The HTTP client's error in words: its own say `timeout: global` for a receiver that
/// takes the connection and never answers.
fn in_words(e: &::ureq::Error, timeout: Option<Duration>) -> String {
    match e {
        ::ureq::Error::Timeout(_) => timeout_words(timeout),
        ::ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused: nothing listens there ({io})")
        }
        ::ureq::Error::HostNotFound => "host not found (check the endpoint's host name)".into(),
        other => other.to_string(),
    }
}
