//! The preset type: where each signal goes, with which headers, protocol and temporality.

use crate::error::PresetError;
use crate::validate::{check_header, check_url, origin_len};
use std::fmt;

/// An OpenTelemetry signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records.
    Logs,
}

impl Signal {
    /// All three, in the order used everywhere here.
    pub const ALL: [Signal; 3] = [Signal::Traces, Signal::Metrics, Signal::Logs];

    /// The OTLP/HTTP path suffix: `v1/traces`, `v1/metrics`, `v1/logs`.
    pub fn path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
            Signal::Logs => "v1/logs",
        }
    }

    fn index(self) -> usize {
        match self {
            Signal::Traces => 0,
            Signal::Metrics => 1,
            Signal::Logs => 2,
        }
    }
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (`application/x-protobuf`): accepted by every backend here.
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies (`application/json`).
    HttpJson,
    /// OTLP/gRPC.
    Grpc,
}

/// The aggregation temporality a backend wants for sums and histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Totals since start (the OpenTelemetry default).
    Cumulative,
    /// Changes since the last export (Datadog, Dynatrace, New Relic, Uptrace want this).
    Delta,
}

/// One header. The value is secret-bearing (API keys, tokens) and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    name: String,
    value: String,
}

impl Header {
    /// The header name, lower-case as sent.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The header value (may be a secret: do not log it).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Where one signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    url: String,
    protocol: Protocol,
    headers: Vec<Header>,
}

impl Target {
    /// The full URL, used as given (the per-signal path is already in it).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The transport.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The headers to send with every request of this signal.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|h| (h.name(), h.value()))
    }

    /// One header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str())
    }

    fn set_header(&mut self, name: &str, value: String) {
        let name = name.to_ascii_lowercase();
        match self.headers.iter_mut().find(|h| h.name == name) {
            Some(h) => h.value = value,
            None => self.headers.push(Header { name, value }),
        }
    }
}

/// A backend's OTLP settings as data: a URL per accepted signal, headers, protocol,
/// temporality and the resource attributes it needs. Signals a backend does not accept have
/// no target and are not sent.
///
/// Build one with a vendor constructor (see the crate docs), then hand it to the OTLP layer.
/// `Debug` never shows header values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preset {
    name: &'static str,
    targets: [Option<Target>; 3],
    temporality: Temporality,
    resource: Vec<(String, String)>,
}

impl Preset {
    /// A preset that sends the given signals to `{base}/v1/{signal}` with `headers`.
    /// `base` and the header values are validated here.
    pub(crate) fn http(
        name: &'static str,
        base: &str,
        signals: &[Signal],
        headers: &[(&str, &str)],
        protocol: Protocol,
        base_field: &'static str,
    ) -> Result<Self, PresetError> {
        let base = check_url(base, base_field)?;
        let mut preset = Self::unchecked(name, base, signals, protocol);
        for (name, value) in headers {
            preset = preset.with_header(name, value)?;
        }
        Ok(preset)
    }

    /// [`Preset::http`] for a constant `base` known to be valid, without headers.
    pub(crate) fn unchecked(
        name: &'static str,
        base: &str,
        signals: &[Signal],
        protocol: Protocol,
    ) -> Self {
        let base = base.trim_end_matches('/');
        let mut preset = Preset {
            name,
            targets: [None, None, None],
            temporality: Temporality::Cumulative,
            resource: Vec::new(),
        };
        for &signal in signals {
            preset.targets[signal.index()] = Some(Target {
                url: format!("{base}/{}", signal.path()),
                protocol,
                headers: Vec::new(),
            });
        }
        preset
    }

    /// The preset's name (`"sentry"`, `"honeycomb"`, ...).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Where `signal` goes, or `None` when the backend does not accept it.
    pub fn target(&self, signal: Signal) -> Option<&Target> {
        self.targets[signal.index()].as_ref()
    }

    /// The signals this preset sends.
    pub fn signals(&self) -> impl Iterator<Item = Signal> + '_ {
        Signal::ALL
            .into_iter()
            .filter(|s| self.targets[s.index()].is_some())
    }

    /// The temporality metrics must use.
    pub fn temporality(&self) -> Temporality {
        self.temporality
    }

    /// Resource attributes the backend needs (added to the service's resource).
    pub fn resource_attributes(&self) -> &[(String, String)] {
        &self.resource
    }

    /// Adds or replaces a header on every signal. Names are validated as HTTP tokens and
    /// values may not hold control characters (no header injection).
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, PresetError> {
        check_header(name, value, "header")?;
        for t in self.targets.iter_mut().flatten() {
            t.set_header(name, value.to_owned());
        }
        Ok(self)
    }

    /// Adds or replaces a header on one signal only.
    pub fn with_signal_header(
        mut self,
        signal: Signal,
        name: &str,
        value: &str,
    ) -> Result<Self, PresetError> {
        check_header(name, value, "header")?;
        if let Some(t) = self.targets[signal.index()].as_mut() {
            t.set_header(name, value.to_owned());
        }
        Ok(self)
    }

    /// Sends `signal` to exactly `url` (for a backend whose per-signal URL differs from the
    /// documented one, or to turn a signal on that the preset leaves off).
    pub fn with_signal_url(mut self, signal: Signal, url: &str) -> Result<Self, PresetError> {
        let url = check_url(url, "signal url")?.to_owned();
        let template = self.targets.iter().flatten().next().cloned();
        let slot = &mut self.targets[signal.index()];
        match slot {
            Some(t) => t.url = url,
            None => {
                let (protocol, headers) = template
                    .map(|t| (t.protocol, t.headers))
                    .unwrap_or((Protocol::HttpProtobuf, Vec::new()));
                *slot = Some(Target {
                    url,
                    protocol,
                    headers,
                });
            }
        }
        Ok(self)
    }

    /// Stops sending `signal`.
    #[must_use]
    pub fn without_signal(mut self, signal: Signal) -> Self {
        self.targets[signal.index()] = None;
        self
    }

    /// Replaces the scheme, host and port of every target with `base` (which may add a path
    /// prefix), keeping each target's path. For tests against a local receiver and for
    /// proxies: `https://api.honeycomb.io/v1/traces` with base `http://127.0.0.1:4318`
    /// becomes `http://127.0.0.1:4318/v1/traces`.
    pub fn with_base_url(mut self, base: &str) -> Result<Self, PresetError> {
        let base = check_url(base, "base url")?
            .trim_end_matches('/')
            .to_owned();
        for t in self.targets.iter_mut().flatten() {
            let path = &t.url[origin_len(&t.url)..];
            t.url = format!("{base}{path}");
        }
        Ok(self)
    }

    /// Sets the protocol of every target (a backend that accepts only one is documented on
    /// its constructor).
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        for t in self.targets.iter_mut().flatten() {
            t.protocol = protocol;
        }
        self
    }

    #[must_use]
    pub(crate) fn delta(mut self) -> Self {
        self.temporality = Temporality::Delta;
        self
    }

    #[must_use]
    pub(crate) fn with_resource_attribute(mut self, key: &str, value: &str) -> Self {
        self.resource.push((key.to_owned(), value.to_owned()));
        self
    }
}
