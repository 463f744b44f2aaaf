//! Loopback plumbing for the exporter rungs: an HTTP/1.1 sink on `127.0.0.1` that answers
//! every request `200` (`{}` for App Insights, an empty protobuf body for OTLP) and can
//! decode and count what it receives (gzip bodies gunzipped first; OTLP/protobuf with
//! `prost`; App Insights envelopes, newline-delimited or a JSON array, each parsed with
//! `serde_json` into a typed view that keeps only `data.baseType`), and an
//! [`opentelemetry_http::HttpClient`] for the OpenTelemetry exporters that speaks plain
//! HTTP/1.1 over one kept-alive loopback connection (it refuses any other host).
//!
//! Nothing here touches a non-loopback address.

use bytes::Bytes;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use prost::Message as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What the sink has received so far.
#[derive(Debug, Default)]
pub struct SinkStats {
    /// HTTP requests answered.
    pub requests: AtomicU64,
    /// Request body bytes (as sent, possibly gzipped).
    pub bytes: AtomicU64,
    /// OTLP spans decoded (only when the sink decodes).
    pub spans: AtomicU64,
    /// OTLP span events decoded (only when the sink decodes).
    pub span_events: AtomicU64,
    /// OTLP log records, or App Insights envelopes other than spans (messages, metrics,
    /// exceptions), decoded (only when the sink decodes).
    pub logs: AtomicU64,
    /// Bodies that did not decode (bad gzip, protobuf or JSON).
    pub errors: AtomicU64,
}

/// A loopback HTTP/1.1 sink: one thread accepting, one thread per connection.
#[derive(Debug, Clone)]
pub struct Sink {
    addr: SocketAddr,
    stats: Arc<SinkStats>,
}

impl Sink {
    /// Starts a sink on `127.0.0.1:<ephemeral>`. With `decode`, bodies are gunzipped when
    /// gzipped, OTLP/protobuf bodies on `/v1/traces` and `/v1/logs` are decoded and their
    /// spans and log records counted, and App Insights bodies (any other path) are parsed
    /// envelope by envelope, `RequestData` and `RemoteDependencyData` counted as spans
    /// (otherwise the body is read and dropped).
    pub fn start(decode: bool) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let stats = Arc::new(SinkStats::default());
        let s = stats.clone();
        thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let s = s.clone();
                    let _ =
                        thread::Builder::new()
                            .name("bench-sink-conn".into())
                            .spawn(move || {
                                let _ = serve(conn, &s, decode);
                            });
                }
            })
            .expect("spawn sink");
        Sink { addr, stats }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it has received so far.
    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }
}

fn serve(conn: TcpStream, stats: &SinkStats, decode: bool) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut plain = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let (mut len, mut chunked, mut gzip) = (0usize, false, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let v = v.trim();
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => len = v.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "content-encoding" => gzip = v.eq_ignore_ascii_case("gzip"),
                    "expect" if v.eq_ignore_ascii_case("100-continue") => {
                        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
                    }
                    _ => {}
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut r)?
        } else {
            let mut b = vec![0; len];
            r.read_exact(&mut b)?;
            b
        };
        stats.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        if decode {
            let body = if gzip {
                plain.clear();
                match flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut plain) {
                    Ok(_) => Some(&plain[..]),
                    Err(_) => None,
                }
            } else {
                Some(&body[..])
            };
            let ok = match body {
                Some(body) if path.starts_with("/v1/") => count_otlp(&path, body, stats),
                Some(body) => count_appinsights(body, stats),
                None => false,
            };
            if !ok {
                stats.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let (ctype, answer) = if path.starts_with("/v1/") {
            ("application/x-protobuf", "")
        } else {
            ("application/json", "{}")
        };
        write!(
            w,
            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        )?;
        w.flush()?;
    }
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if size == 0 {
            // Trailers (none expected) up to the empty line.
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim_end().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf)?;
    }
}

fn count_otlp(path: &str, body: &[u8], stats: &SinkStats) -> bool {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    if path.starts_with("/v1/traces") {
        let Ok(req) = ExportTraceServiceRequest::decode(body) else {
            return false;
        };
        for span in req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            stats.spans.fetch_add(1, Ordering::Relaxed);
            stats
                .span_events
                .fetch_add(span.events.len() as u64, Ordering::Relaxed);
        }
    } else if path.starts_with("/v1/logs") {
        let Ok(req) = ExportLogsServiceRequest::decode(body) else {
            return false;
        };
        let n: usize = req
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        stats.logs.fetch_add(n as u64, Ordering::Relaxed);
    }
    true
}

/// An App Insights envelope as the sink reads it: every byte is parsed (serde checks the
/// whole JSON text), only `data.baseType` is kept.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    data: Option<EnvelopeData<'a>>,
}

#[derive(serde::Deserialize)]
struct EnvelopeData<'a> {
    #[serde(rename = "baseType", borrow)]
    base_type: std::borrow::Cow<'a, str>,
}

/// Counts the envelopes of one App Insights body: a JSON array (what
/// `opentelemetry-application-insights` posts) or one envelope per line.
fn count_appinsights(body: &[u8], stats: &SinkStats) -> bool {
    let count = |e: &Envelope<'_>| {
        let span = matches!(
            e.data.as_ref().map(|d| &*d.base_type),
            Some("RequestData" | "RemoteDependencyData")
        );
        let counter = if span { &stats.spans } else { &stats.logs };
        counter.fetch_add(1, Ordering::Relaxed);
    };
    if body.trim_ascii_start().starts_with(b"[") {
        let Ok(all) = serde_json::from_slice::<Vec<Envelope<'_>>>(body) else {
            return false;
        };
        all.iter().for_each(count);
        return true;
    }
    for line in body.split(|&b| b == b'\n') {
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Ok(e) = serde_json::from_slice::<Envelope<'_>>(line) else {
            return false;
        };
        count(&e);
    }
    true
}

/// An [`HttpClient`] for the OpenTelemetry exporters: plain HTTP/1.1 over one kept-alive
/// connection to `127.0.0.1` (blocking; the SDK's batch processor calls it on its own
/// thread). Any other host is refused without a connection attempt.
#[derive(Debug, Default)]
pub struct LoopbackClient {
    conn: Mutex<Option<BufReader<TcpStream>>>,
}

/// A client whose every request "succeeds" with `200` and an empty body, touching no socket.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopClient;

#[async_trait::async_trait]
impl HttpClient for NoopClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        drop(std::hint::black_box(request));
        Ok(Response::builder().status(200).body(Bytes::new())?)
    }
}

#[async_trait::async_trait]
impl HttpClient for LoopbackClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let uri = request.uri().clone();
        if uri.host() != Some("127.0.0.1") {
            return Err(format!("LoopbackClient refuses {uri}").into());
        }
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or("127.0.0.1");
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {authority}\r\n",
            request.method(),
            uri.path_and_query().map_or("/", |p| p.as_str())
        );
        for (k, v) in request.headers() {
            if k != http::header::CONTENT_LENGTH && k != http::header::HOST {
                head.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap_or("")));
            }
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", request.body().len()));
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            let s = TcpStream::connect(authority)?;
            s.set_nodelay(true)?;
            *guard = Some(BufReader::new(s));
        }
        let conn = guard.as_mut().expect("connected");
        let result = exchange(conn, head.as_bytes(), request.body());
        if result.is_err() {
            *guard = None;
        }
        let (status, body) = result?;
        Ok(Response::builder().status(status).body(Bytes::from(body))?)
    }
}

fn exchange(
    conn: &mut BufReader<TcpStream>,
    head: &[u8],
    body: &[u8],
) -> io::Result<(u16, Vec<u8>)> {
    let s = conn.get_mut();
    s.write_all(head)?;
    s.write_all(body)?;
    s.flush()?;
    let mut line = String::new();
    conn.read_line(&mut line)?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if conn.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut b = vec![0; len];
    conn.read_exact(&mut b)?;
    Ok((status, b))
}
