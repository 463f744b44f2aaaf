//! A loopback ingestion endpoint on 127.0.0.1:0 that records every request, gunzipped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};

/// One captured HTTP request.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) headers: BTreeMap<String, String>,
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub(crate) body: Vec<u8>,
}

/// The receiver: its port and what it has captured.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) port: u16,
    captured: Arc<Mutex<Vec<Captured>>>,
}

impl Receiver {
    pub(crate) fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let captured = Arc::new(Mutex::new(Vec::new()));
        let c = captured.clone();
        std::thread::Builder::new()
            .name("conformance-receiver".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let c = c.clone();
                    std::thread::spawn(move || {
                        let _ = serve(stream, &c);
                    });
                }
            })?;
        Ok(Self { port, captured })
    }

    /// Takes everything captured so far.
    pub(crate) fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn serve(stream: TcpStream, captured: &Mutex<Vec<Captured>>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let mut body = Vec::new();
        if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            let len = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            body.resize(len, 0);
            reader.read_exact(&mut body)?;
        }
        if headers
            .get("content-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"))
        {
            let mut out = Vec::new();
            if flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .is_ok()
            {
                body = out;
            }
        }
        let count = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0);
        captured
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Captured {
                method,
                path,
                headers,
                body,
            });
        let resp_body =
            format!("{{\"itemsReceived\":{count},\"itemsAccepted\":{count},\"errors\":[]}}");
        write!(
            writer,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{resp_body}",
            resp_body.len()
        )?;
        writer.flush()?;
    }
}
