//! OTLP/gRPC (cargo feature `grpc`): unary `Export` calls over HTTP/2 (`h2`), cleartext
//! (`http://`, prior knowledge) or TLS (`https://`, ALPN `h2`, rustls), driven by a private
//! current-thread tokio runtime owned by the caller's thread: no user runtime is needed or
//! touched. No tonic: one request and one answer per export is all OTLP needs.

use crate::tls::TlsFiles;
use bytes::Bytes;
use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tracing_insights_export::transport::Request;
use tracing_insights_export::{Response, Transport};
use ureq::http;

/// The gRPC method of each signal's collector service.
pub(crate) fn method_path(signal: crate::Signal) -> &'static str {
    match signal {
        crate::Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        crate::Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        crate::Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    }
}

/// The export pipeline's transport for one gRPC endpoint: each request is one unary call.
pub(crate) struct GrpcTransport {
    client: GrpcClient,
    path: &'static str,
    gzip: bool,
}

impl GrpcTransport {
    pub(crate) fn new(ep: &crate::pipeline::Endpoint) -> Result<Self, String> {
        Ok(Self {
            client: GrpcClient::new(&ep.url, &ep.tls)?,
            path: method_path(ep.signal),
            gzip: ep.compression == crate::config::Compression::Gzip,
        })
    }
}

impl Transport for GrpcTransport {
    fn send(&mut self, r: &Request<'_>) -> Result<Response, String> {
        let mut headers = r.headers.to_vec();
        if let Some(a) = r.authorization {
            headers.push(("authorization".into(), a.to_owned()));
        }
        let a = self
            .client
            .call(self.path, &r.body.bytes, self.gzip, &headers, r.timeout)?;
        Ok(Response::grpc(a.http_status, a.code, a.message, a.body))
    }
}

/// What a call got back.
#[derive(Debug)]
pub(crate) struct GrpcAnswer {
    /// The HTTP/2 status (200 also for gRPC errors).
    pub(crate) http_status: u16,
    /// `grpc-status` (0 = OK).
    pub(crate) code: u32,
    /// `grpc-message`, percent-decoded.
    pub(crate) message: String,
    /// The response message (the `Export*ServiceResponse`), unframed.
    pub(crate) body: Vec<u8>,
}

/// A connection to one gRPC endpoint, made on first use and remade after an error.
pub(crate) struct GrpcClient {
    scheme: &'static str,
    host: String,
    port: u16,
    authority: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    rt: Option<tokio::runtime::Runtime>,
    conn: Option<h2::client::SendRequest<Bytes>>,
}

impl std::fmt::Debug for GrpcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcClient")
            .field("authority", &self.authority)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for GrpcClient {
    fn drop(&mut self) {
        // The guard may be dropped on an application thread inside a tokio runtime, where a
        // runtime must not be dropped by blocking; and h2 logs through `tracing` while it
        // closes: neither may reach the application.
        let conn = self.conn.take();
        let rt = self.rt.take();
        tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
            drop(conn);
            if let Some(rt) = rt {
                rt.shutdown_background();
            }
        });
    }
}

impl GrpcClient {
    /// A client for `url` (`http://host:port` or `https://host:port`; a path is ignored, as
    /// gRPC names the method itself).
    pub(crate) fn new(url: &str, tls: &TlsFiles) -> Result<Self, String> {
        let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or("no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 4317 });
        let authority = match uri.port_u16() {
            Some(p) => format!("{}:{p}", uri.host().unwrap_or_default()),
            None => uri.host().unwrap_or_default().to_owned(),
        };
        let tls = if https {
            Some(Arc::new(client_config(tls)?))
        } else {
            None
        };
        Ok(Self {
            scheme: if https { "https" } else { "http" },
            host,
            port,
            authority,
            tls,
            rt: None,
            conn: None,
        })
    }

    /// One unary call: `msg` (an encoded request) framed, optionally gzipped.
    pub(crate) fn call(
        &mut self,
        path: &str,
        msg: &[u8],
        gzip: bool,
        headers: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<GrpcAnswer, String> {
        if self.rt.is_none() {
            self.rt = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("could not start the gRPC runtime: {e}"))?,
            );
        }
        let frame = frame(msg, gzip)?;
        let request = self.request(path, gzip, headers, timeout)?;
        let rt = self.rt.take().ok_or("no runtime")?;
        let result = rt.block_on(async {
            let fut = self.call_async(request, frame);
            match timeout {
                Some(t) => tokio::time::timeout(t, fut)
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {t:?}"))),
                None => fut.await,
            }
        });
        self.rt = Some(rt);
        if result.is_err() {
            // Start afresh next time (the server may have closed an idle connection).
            self.conn = None;
        }
        result
    }

    fn request(
        &self,
        path: &str,
        gzip: bool,
        headers: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<http::Request<()>, String> {
        let mut b = http::Request::builder()
            .method("POST")
            .uri(format!("{}://{}{path}", self.scheme, self.authority))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header(
                "user-agent",
                concat!("tracing-insights-otlp/", env!("CARGO_PKG_VERSION")),
            );
        if gzip {
            b = b.header("grpc-encoding", "gzip");
        }
        if let Some(t) = timeout {
            b = b.header(
                "grpc-timeout",
                format!("{}m", t.as_millis().min(99_999_999)),
            );
        }
        for (k, v) in headers {
            // HTTP/2 header names are lower case (gRPC metadata keys too).
            b = b.header(k.to_ascii_lowercase(), v.as_str());
        }
        // Header values are never echoed: only the fact that the request could not be built.
        b.body(())
            .map_err(|_| "a header cannot be sent over HTTP/2".to_owned())
    }

    async fn connect(&self) -> Result<h2::client::SendRequest<Bytes>, String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connect to {}: {e}", self.authority))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => {
                let (send, conn) = h2::client::handshake(tcp)
                    .await
                    .map_err(|e| format!("HTTP/2 handshake with {}: {e}", self.authority))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|_| format!("`{}` is not a valid TLS server name", self.host))?;
                let tls = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS with {}: {e}", self.authority))?;
                let (send, conn) = h2::client::handshake(tls)
                    .await
                    .map_err(|e| format!("HTTP/2 handshake with {}: {e}", self.authority))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                Ok(send)
            }
        }
    }

    async fn call_async(
        &mut self,
        request: http::Request<()>,
        frame: Vec<u8>,
    ) -> Result<GrpcAnswer, String> {
        let send = match self.conn.take() {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut send = send
            .ready()
            .await
            .map_err(|e| format!("HTTP/2 connection to {}: {e}", self.authority))?;
        let (response, mut stream) = send
            .send_request(request, false)
            .map_err(|e| format!("HTTP/2 request to {}: {e}", self.authority))?;
        stream
            .send_data(Bytes::from(frame), true)
            .map_err(|e| format!("HTTP/2 send to {}: {e}", self.authority))?;
        self.conn = Some(send);
        let response = response
            .await
            .map_err(|e| format!("HTTP/2 answer from {}: {e}", self.authority))?;
        let (parts, mut body) = response.into_parts();
        let mut data = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| format!("HTTP/2 body from {}: {e}", self.authority))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() < (4 << 20) {
                data.extend_from_slice(&chunk);
            }
        }
        let trailers = body
            .trailers()
            .await
            .map_err(|e| format!("HTTP/2 trailers from {}: {e}", self.authority))?;
        // A "trailers-only" answer carries the status in the headers.
        let status_map = trailers
            .as_ref()
            .filter(|t| t.contains_key("grpc-status"))
            .unwrap_or(&parts.headers);
        let http_status = parts.status.as_u16();
        let code = status_map
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(match http_status {
                200 => 2,
                400 => 13,
                401 => 16,
                403 => 7,
                404 => 12,
                429 | 502 | 503 | 504 => 14,
                _ => 2,
            });
        let message = status_map
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .map(|m| {
                percent_encoding::percent_decode_str(m)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default();
        Ok(GrpcAnswer {
            http_status,
            code,
            message,
            body: unframe(&data),
        })
    }
}

/// The gRPC length-prefixed message: compressed flag, big-endian length, bytes.
fn frame(msg: &[u8], gzip: bool) -> Result<Vec<u8>, String> {
    let payload = if gzip {
        tracing_insights_export::gzip(msg).map_err(|e| format!("gzip failed: {e}"))?
    } else {
        msg.to_vec()
    };
    let len = u32::try_from(payload.len()).map_err(|_| "message over 4 GiB".to_owned())?;
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(u8::from(gzip));
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// The first message of a response body (empty when there is none or it is malformed).
fn unframe(data: &[u8]) -> Vec<u8> {
    if data.len() < 5 {
        return Vec::new();
    }
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let Some(msg) = data.get(5..5 + len) else {
        return Vec::new();
    };
    if data[0] == 1 {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(msg)
            .take(4 << 20)
            .read_to_end(&mut out)
            .is_err()
        {
            return Vec::new();
        }
        out
    } else {
        msg.to_vec()
    }
}

fn client_config(files: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    match &files.roots {
        Some(certs) => {
            for c in certs {
                roots
                    .add(rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                    .map_err(|e| format!("a root certificate was refused: {e}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots);
    let mut config = match &files.client {
        None => builder.with_no_client_auth(),
        Some((chain, _)) => {
            use rustls::pki_types::pem::PemObject as _;
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&files.client_key_pem)
                .map_err(|_| "the client key could not be read as PEM".to_owned())?;
            let chain = chain
                .iter()
                .map(|c| rustls::pki_types::CertificateDer::from(c.der().to_vec()))
                .collect();
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate was refused: {e}"))?
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        for gzip in [false, true] {
            let f = frame(b"hello", gzip).unwrap();
            assert_eq!(f[0], u8::from(gzip));
            assert_eq!(unframe(&f), b"hello");
        }
        assert!(unframe(&[0, 0, 0, 0, 9, 1]).is_empty());
    }
}
