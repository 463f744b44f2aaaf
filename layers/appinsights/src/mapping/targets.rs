//! URLs and dependency targets, as Microsoft's exporter derives them from HTTP, database
//! and peer fields.

use super::attributes::Attrs;
use tracing_insights_azure::classify::{default_db_port, default_http_port};

/// The path of a URL (`/` when empty).
pub(super) fn url_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            match after.find(['/', '?', '#']) {
                Some(j) => &after[j..],
                None => "",
            }
        }
        None => url,
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        "/".into()
    } else {
        path.into()
    }
}

/// (scheme, netloc) of a URL.
pub(super) fn url_netloc(url: &str) -> Option<(&str, &str)> {
    let i = url.find("://")?;
    let after = &url[i + 3..];
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let netloc = &after[..end];
    let netloc = netloc.rsplit('@').next().unwrap_or(netloc);
    (!netloc.is_empty()).then_some((&url[..i], netloc))
}

/// Splits `host:port` (IPv6 in brackets kept whole).
pub(super) fn split_port(hostport: &str) -> (&str, Option<u16>) {
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.ends_with(':') => match p.parse() {
            Ok(port) => (h, Some(port)),
            Err(_) => (hostport, None),
        },
        _ => (hostport, None),
    }
}

pub(super) fn http_scheme(a: Attrs<'_>) -> Option<String> {
    a.first(&["url.scheme", "http.scheme"])
}

/// `peer.service`, else `net.peer.name|net.peer.ip` with a non-default `net.peer.port`.
pub(super) fn peer_target(a: Attrs<'_>) -> String {
    if let Some(s) = a.s("peer.service") {
        return s;
    }
    let mut target = a
        .first(&["net.peer.name", "net.peer.ip"])
        .unwrap_or_default();
    if let Some(port) = a.int("net.peer.port") {
        let http_default = i64::from(default_http_port(http_scheme(a).as_deref()));
        let db_default = a
            .first(&["db.system.name", "db.system"])
            .and_then(|s| default_db_port(&s))
            .map_or(0, i64::from);
        if port != http_default && port != db_default {
            target = format!("{target}:{port}");
        }
    }
    target
}

pub(super) fn azure_sdk_target(a: Attrs<'_>) -> Option<String> {
    let addr = a.first(&["server.address", "net.peer.name", "peer.address"]);
    let dest = a.first(&["messaging.destination.name", "message_bus.destination"]);
    match (addr, dest) {
        (Some(a), Some(d)) => Some(format!("{a}/{d}")),
        (Some(a), None) => Some(a),
        (None, Some(d)) => Some(d),
        (None, None) => None,
    }
}

pub(super) fn status_code(a: Attrs<'_>) -> Option<i64> {
    a.int("http.response.status_code")
        .or_else(|| a.int("http.status_code"))
}

pub(super) fn server_url(a: Attrs<'_>) -> Option<String> {
    if let Some(u) = a.first(&["url.full", "http.url"]) {
        return Some(u);
    }
    let scheme = http_scheme(a)?;
    let target = match a.s("url.path") {
        Some(path) => match a.s("url.query") {
            Some(q) => format!("{path}?{q}"),
            None => path,
        },
        None => a.s("http.target")?,
    };
    let with_port = |host: String, port: Option<String>| match port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    };
    let host = if let Some(addr) = a.s("server.address") {
        with_port(addr, a.s("server.port"))
    } else if let Some(h) = a.s("http.host") {
        h
    } else if let Some(n) = a.s("http.server_name") {
        with_port(n, a.s("net.host.port"))
    } else if let Some(n) = a.s("net.host.name") {
        with_port(n, a.s("net.host.port"))
    } else {
        return None;
    };
    Some(format!("{scheme}://{host}{target}"))
}

pub(super) fn client_url(a: Attrs<'_>) -> Option<String> {
    if let Some(u) = a.first(&["url.full", "http.url"]) {
        return Some(u);
    }
    let scheme = http_scheme(a)?;
    let target = a.s("http.target")?;
    if let Some(h) = a.s("http.host") {
        return Some(format!("{scheme}://{h}{target}"));
    }
    let port = a.s("net.peer.port")?;
    let host = a.first(&["net.peer.name", "net.peer.ip"])?;
    Some(format!("{scheme}://{host}:{port}{target}"))
}

pub(super) fn client_http_target(a: Attrs<'_>, url: Option<&str>) -> String {
    let default_port = i64::from(default_http_port(http_scheme(a).as_deref()));
    if let Some(addr) = a.s("server.address") {
        return match a.int("server.port") {
            Some(p) if p != default_port => format!("{addr}:{p}"),
            _ => addr,
        };
    }
    if let Some(s) = a.s("peer.service") {
        return s;
    }
    if let Some(h) = a.s("http.host") {
        let (host, port) = split_port(&h);
        return match port {
            Some(p) if i64::from(p) == default_port => host.to_owned(),
            _ => h,
        };
    }
    if let Some((_, netloc)) = url.and_then(url_netloc) {
        // The default port comes from the scheme *attribute*, as in Microsoft's exporter.
        let (host, port) = split_port(netloc);
        return match port {
            Some(p) if i64::from(p) == default_port => host.to_owned(),
            _ => netloc.to_owned(),
        };
    }
    peer_target(a)
}

pub(super) fn db_target(a: Attrs<'_>, system: &str) -> String {
    let mut target = peer_target(a);
    if target.is_empty() {
        if let Some(addr) = a.s("server.address") {
            target = match a.int("server.port") {
                Some(p) if default_db_port(system).map(i64::from) != Some(p) => {
                    format!("{addr}:{p}")
                }
                _ => addr,
            };
        }
    }
    if let Some(db) = a.first(&["db.namespace", "db.name"]) {
        target = if target.is_empty() {
            db
        } else {
            format!("{target}|{db}")
        };
    }
    if target.is_empty() {
        target = system.to_owned();
    }
    target
}
