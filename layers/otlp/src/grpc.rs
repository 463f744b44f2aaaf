//! OTLP/gRPC (cargo feature `grpc`): unary `Export` calls through `tonic`'s channel (hyper and
//! h2 underneath), cleartext (`http://`, HTTP/2 with prior knowledge) or TLS (`https://`,
//! rustls with aws-lc-rs, the provider of the HTTP side's default `rustls` feature, named per
//! connection unless the application installed a process-wide one; the platform's root
//! certificates, as the HTTP side uses, unless a CA file replaces them).
//!
//! The pipeline hands over an export request already encoded; a pass-through codec frames
//! those bytes as they are, so nothing is decoded or encoded twice. A private current-thread
//! tokio runtime, made on the worker thread at the first call, drives the channel: no
//! application runtime is needed or touched, and the application thread never waits on it.

use bytes::{Buf as _, BufMut as _, Bytes};
use std::error::Error as _;
use std::time::Duration;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};
use tonic::{Code, Status};
use tracing_insights_export::transport::Request;
use tracing_insights_export::{Response, Transport};

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
    endpoint: Endpoint,
    /// `host:port`, for error words (never the user part of a URL).
    authority: String,
    path: &'static str,
    gzip: bool,
    /// Made on the first call, on the thread that sends.
    rt: Option<tokio::runtime::Runtime>,
    client: Option<tonic::client::Grpc<Channel>>,
}

impl std::fmt::Debug for GrpcTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcTransport")
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field("gzip", &self.gzip)
            .finish_non_exhaustive()
    }
}

impl Drop for GrpcTransport {
    fn drop(&mut self) {
        // The guard may be dropped on an application thread inside a tokio runtime, where a
        // runtime must not be dropped by blocking; and hyper and h2 log through `tracing`
        // while they close: neither may reach the application.
        let client = self.client.take();
        let rt = self.rt.take();
        tracing::dispatcher::with_default(&tracing::Dispatch::none(), || {
            drop(client);
            if let Some(rt) = rt {
                rt.shutdown_background();
            }
        });
    }
}

impl GrpcTransport {
    /// Checks the address, the TLS files and the headers; connects nothing (the builder
    /// calls this on the application thread so that a bad setting is an error there).
    pub(crate) fn new(ep: &crate::pipeline::Endpoint) -> Result<Self, String> {
        let (origin, authority, https) = origin(&ep.url)?;
        let mut endpoint = Endpoint::from_shared(origin)
            .map_err(|_| "not a URL".to_owned())?
            .user_agent(concat!("tracing-insights-otlp/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| format!("user agent: {e}"))?
            .tcp_nodelay(true);
        if let Some(t) = ep.timeout {
            endpoint = endpoint.connect_timeout(t);
        }
        if https {
            endpoint = endpoint
                .tls_config(tls_config(&ep.tls))
                .map_err(|e| format!("TLS setup: {}", words(&e)))?;
        }
        metadata(&ep.headers, None)?;
        Ok(Self {
            endpoint,
            authority,
            path: method_path(ep.signal),
            gzip: ep.compression == crate::config::Compression::Gzip,
            rt: None,
            client: None,
        })
    }

    /// One call: the runtime and the channel are made on first use; the channel reconnects
    /// by itself after a connection is lost.
    fn call(
        &mut self,
        message: Bytes,
        metadata: MetadataMap,
        timeout: Option<Duration>,
    ) -> Result<Response, String> {
        if self.rt.is_none() {
            self.rt = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("could not start the gRPC runtime: {e}"))?,
            );
        }
        let rt = self.rt.as_ref().ok_or("no runtime")?;
        let client = self.client.get_or_insert_with(|| {
            // The channel spawns its tasks on the runtime entered here.
            let _enter = rt.enter();
            let mut g = tonic::client::Grpc::new(self.endpoint.connect_lazy())
                .accept_compressed(CompressionEncoding::Gzip);
            if self.gzip {
                g = g.send_compressed(CompressionEncoding::Gzip);
            }
            g
        });
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = metadata;
        if let Some(t) = timeout {
            // Sent as `grpc-timeout`, so the server gives up when this side does.
            request.set_timeout(t);
        }
        let path = Uri::from_static(self.path)
            .path_and_query()
            .cloned()
            .ok_or("no method path")?;
        let authority = &self.authority;
        rt.block_on(async {
            let call = async {
                client
                    .ready()
                    .await
                    .map_err(|e| format!("gRPC channel to {authority}: {}", words(&e)))?;
                Ok(client.unary(request, path, PassThrough).await)
            };
            let answer = match timeout {
                Some(t) => tokio::time::timeout(t, call)
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer from {authority} within {t:?}"))),
                None => call.await,
            }?;
            answer_of(answer, authority)
        })
    }
}

impl Transport for GrpcTransport {
    fn send(&mut self, r: &Request<'_>) -> Result<Response, String> {
        let metadata = metadata(r.headers, r.authorization)?;
        self.call(Bytes::copy_from_slice(&r.body.bytes), metadata, r.timeout)
    }
}

/// A server's answer (an `OK` with its response message, or a status it sent, or one tonic
/// inferred from a non-gRPC HTTP answer such as a proxy's 503) as the pipeline's response; a
/// failure of this side or of the connection (a status carrying the error that caused it) as
/// the transport failure it is.
fn answer_of(
    answer: Result<tonic::Response<Bytes>, Status>,
    authority: &str,
) -> Result<Response, String> {
    match answer {
        Ok(r) => Ok(Response::grpc(
            200,
            0,
            String::new(),
            r.into_inner().to_vec(),
        )),
        Err(s) if s.source().is_some() => Err(format!("gRPC call to {authority}: {}", words(&s))),
        Err(s) => Ok(Response::grpc(
            200,
            code_number(s.code()),
            s.message().to_owned(),
            Vec::new(),
        )),
    }
}

fn code_number(code: Code) -> u32 {
    u32::try_from(i32::from(code)).unwrap_or(2)
}

/// `scheme://host:port` (a path is dropped, as gRPC names the method itself; the port is
/// 4317 for `http` and 443 for `https` when the URL has none), `host:port`, and whether TLS is
/// used.
fn origin(url: &str) -> Result<(String, String, bool), String> {
    let uri: Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().filter(|h| !h.is_empty()).ok_or("no host")?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 4317 });
    let authority = format!("{host}:{port}");
    let scheme = if https { "https" } else { "http" };
    Ok((format!("{scheme}://{authority}"), authority, https))
}

/// The configured CA file replaces the platform's roots (the operating system's store, read
/// when the transport is made: an empty store is an error then, not at the first export);
/// the client certificate and key, when both are set, are presented for mutual TLS.
fn tls_config(files: &crate::tls::TlsFiles) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new();
    tls = match files.ca_pem() {
        Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
        None => tls.with_native_roots(),
    };
    if let (Some(cert), Some(key)) = (files.client_cert_pem(), files.client_key_pem()) {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    tls
}

/// The headers as gRPC metadata (lower-case keys). A header that cannot be sent is an error
/// naming the header, never its value (values are often secrets).
fn metadata(
    headers: &[(String, String)],
    authorization: Option<&str>,
) -> Result<MetadataMap, String> {
    let mut map = MetadataMap::with_capacity(headers.len() + 1);
    let all = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(authorization.map(|a| ("authorization", a)));
    for (k, v) in all {
        let bad = || format!("the header `{k}` cannot be sent as gRPC metadata");
        let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| bad())?;
        let value = MetadataValue::try_from(v).map_err(|_| bad())?;
        map.insert(key, value);
    }
    Ok(map)
}

/// An error and its causes in words (tonic's transport error says only "transport error";
/// the cause, such as "Connection refused", is in its source chain).
fn words(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = match e.downcast_ref::<Status>() {
        Some(s) => s.message().to_owned(),
        None => e.to_string(),
    };
    let mut cause = e.source();
    while let Some(c) = cause {
        let w = c.to_string();
        // tonic's own wrapper says nothing the next cause does not.
        if w != "transport error" && !out.contains(&w) {
            out.push_str(": ");
            out.push_str(&w);
        }
        cause = c.source();
    }
    out
}

/// Sends the pipeline's encoded message as it is and hands the answer's message back
/// undecoded (the answer classifier reads it as an `Export*ServiceResponse`).
#[derive(Debug, Clone, Copy, Default)]
struct PassThrough;

impl Codec for PassThrough {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self {
        Self
    }

    fn decoder(&mut self) -> Self {
        Self
    }
}

impl Encoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for PassThrough {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that says only "transport error" and keeps its cause, as tonic's does.
    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("transport error")
        }
    }

    impl std::error::Error for Wrapper {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn origins_drop_the_path_and_default_the_port() {
        assert_eq!(
            origin("http://collector/otlp").unwrap(),
            (
                "http://collector:4317".into(),
                "collector:4317".into(),
                false
            )
        );
        assert_eq!(
            origin("https://u:p@[::1]").unwrap(),
            ("https://[::1]:443".into(), "[::1]:443".into(), true)
        );
        assert!(origin("http://").is_err());
    }

    #[test]
    fn metadata_names_a_bad_header_but_never_its_value() {
        let m = metadata(&[("X-Api-Key".into(), "k v".into())], Some("Bearer t")).unwrap();
        assert_eq!(m.get("x-api-key").unwrap(), "k v");
        assert_eq!(m.get("authorization").unwrap(), "Bearer t");
        let e = metadata(&[("x-key".into(), "secret\nvalue".into())], None).unwrap_err();
        assert!(e.contains("`x-key`") && !e.contains("secret"), "{e}");
        assert!(metadata(&[("bad key".into(), "v".into())], None).is_err());
    }

    #[test]
    fn statuses_from_the_server_are_answers_and_local_failures_are_errors() {
        let r = answer_of(Err(Status::unavailable("busy")), "h:1").unwrap();
        assert_eq!(r.grpc, Some((14, "busy".into())));
        assert_eq!(r.status, 200);
        let mut local = Status::unknown("transport error");
        local.set_source(std::sync::Arc::new(std::io::Error::other(
            "Connection refused",
        )));
        let e = answer_of(Err(local), "h:1").unwrap_err();
        assert_eq!(e, "gRPC call to h:1: transport error: Connection refused");
        let mut wrapped = Status::unavailable("tcp connect error");
        let cause = std::io::Error::other("Connection refused");
        wrapped.set_source(std::sync::Arc::new(Wrapper(cause)));
        let e = answer_of(Err(wrapped), "h:1").unwrap_err();
        assert_eq!(e, "gRPC call to h:1: tcp connect error: Connection refused");
        let ok = answer_of(Ok(tonic::Response::new(Bytes::from_static(b"m"))), "h:1").unwrap();
        assert_eq!(
            (ok.grpc, ok.body),
            (Some((0, String::new())), b"m".to_vec())
        );
    }
}
