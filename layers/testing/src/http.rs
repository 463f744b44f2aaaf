//! A loopback HTTP/1.1 server for tests: it parses requests (keep-alive, `Content-Length`
//! bodies, gzip undone), records them, and answers what a test's responder says: a status,
//! headers and body, after a delay, or never (a hanging receiver). Tests only: it panics on
//! input it does not understand.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One request as the server got it.
#[derive(Debug, Clone)]
pub struct Request {
    /// When it arrived (its body read).
    pub at: Instant,
    /// The request path, e.g. `/v1/traces`.
    pub path: String,
    /// Header names and values as sent.
    pub headers: Vec<(String, String)>,
    /// The body, gunzipped when it was sent with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
    /// Whether it was sent gzipped.
    pub gzipped: bool,
}

impl Request {
    /// The value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Never answer: hold the connection until the client gives up.
    pub hang: bool,
}

impl Reply {
    /// `status` with an empty body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    /// No answer at all (a hanging receiver).
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::status(200)
        }
    }

    /// With a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// With a body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Answered after `delay`.
    #[must_use]
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// What a server answers each request.
pub type Responder = Arc<dyn Fn(&Request) -> Reply + Send + Sync>;

/// Scripted answers, in order; `200` once they run out.
#[derive(Debug, Clone, Default)]
pub struct Script(Arc<Mutex<VecDeque<Reply>>>);

impl Script {
    /// Adds answers at the end.
    pub fn push(&self, replies: impl IntoIterator<Item = Reply>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(replies);
    }

    /// Forgets the answers not given yet (everything is 200 from now on).
    pub fn clear(&self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The next answer.
    pub fn next(&self) -> Reply {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
            .unwrap_or_else(|| Reply::status(200))
    }
}

/// A loopback HTTP/1.1 server on `127.0.0.1`.
#[derive(Clone)]
pub struct LoopbackServer {
    /// Its port.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl std::fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl LoopbackServer {
    /// A server on a free port answering what `respond` says.
    pub fn start(respond: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        Self::on(listener, Arc::new(respond))
    }

    /// A server on a free port answering from a [`Script`] (200 when it runs out).
    pub fn scripted() -> (Self, Script) {
        let script = Script::default();
        let s = script.clone();
        (Self::start(move |_| s.next()), script)
    }

    /// A server on `port` (a receiver that comes back after an outage); retries the bind
    /// for up to 3 s while the port is still held.
    pub fn start_on(
        port: u16,
        respond: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let t0 = Instant::now();
        loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return Self::on(l, Arc::new(respond)),
                Err(e) if t0.elapsed() > Duration::from_secs(3) => panic!("bind {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn on(listener: TcpListener, respond: Responder) -> Self {
        let port = listener.local_addr().expect("local address").port();
        let server = Self {
            port,
            origin: format!("http://127.0.0.1:{port}"),
            requests: Arc::default(),
        };
        let requests = server.requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (requests, respond) = (requests.clone(), respond.clone());
                std::thread::spawn(move || serve(stream, &requests, &*respond));
            }
        });
        server
    }

    /// `origin` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The requests to `path`.
    pub fn on_path(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until `f` holds for the requests, or `timeout` passes; returns them.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let until = Instant::now() + timeout;
        loop {
            let reqs = self.requests();
            if f(&reqs) || Instant::now() > until {
                return reqs;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A port with nothing listening on it (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, respond: &dyn Fn(&Request) -> Reply) {
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().expect("content-length");
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let gzipped = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        if gzipped {
            let mut plain = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut plain)
                .expect("gzip body");
            body = plain;
        }
        let request = Request {
            at: Instant::now(),
            path,
            headers,
            body,
            gzipped,
        };
        let reply = respond(&request);
        requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        if reply.hang {
            // Hold the connection open until the client gives up and closes it.
            let mut sink = [0u8; 1024];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            return;
        }
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        let mut head = format!(
            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
            reply.status,
            reply.body.len()
        );
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&reply.body);
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}
