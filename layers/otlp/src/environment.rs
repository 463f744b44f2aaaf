//! The environment: every variable the OTLP layer reads (public constants), and how the
//! builder turns them, under its own settings, into endpoints and pipeline settings.

use crate::builder::OtlpBuilder;
use crate::config::{
    exporter_enabled, merge_header, parse_compression, parse_headers, parse_millis, parse_positive,
    parse_protocol, parse_temporality, signal_index, signal_infix, signal_name, signal_url,
    validate_url, Aggregation, OtlpError, Protocol, Signal, DEFAULT_ENDPOINT,
    DEFAULT_GRPC_ENDPOINT, SIGNALS,
};
use crate::limits::{Limits, DEFAULT_COUNT};
use crate::pipeline::{Endpoint, Settings, DEFAULT_MAX_REQUEST_BYTES};
use std::sync::Arc;
use std::time::Duration;
use tracing_insights_correlation::{Resource, MAX_VALUE_BYTES};

/// `true` turns every exporter off: the layer does nothing and starts no thread.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// The base URL of every signal (`v1/<signal>` is appended; gRPC: the server address).
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The traces URL, used as given.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// The logs URL, used as given.
pub const OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
/// The metrics URL, used as given.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Headers of every request, `k1=v1,k2=v2` (each signal has its `_<SIGNAL>_HEADERS` too).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// `http/protobuf`, `http/json` or `grpc` (each signal has its `_<SIGNAL>_PROTOCOL` too).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// Request timeout in milliseconds, `0` = none (each signal has its `_<SIGNAL>_TIMEOUT`).
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// `gzip` or `none` (each signal has its `_<SIGNAL>_COMPRESSION` too).
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// A PEM file of the roots to trust instead of the built-in ones.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// The PEM client certificate chain for mTLS.
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// The PEM client key for mTLS.
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// `cumulative`, `delta` or `lowmemory`.
pub const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// `none` turns spans off.
pub const OTEL_TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
/// `none` turns log records off.
pub const OTEL_LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// `none` turns metrics off.
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// Milliseconds between metric exports.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// Milliseconds a span may wait for its batch.
pub const OTEL_BSP_SCHEDULE_DELAY: &str = "OTEL_BSP_SCHEDULE_DELAY";
/// Milliseconds a log record may wait for its batch.
pub const OTEL_BLRP_SCHEDULE_DELAY: &str = "OTEL_BLRP_SCHEDULE_DELAY";
/// Queue capacity of each signal.
pub const OTEL_BSP_MAX_QUEUE_SIZE: &str = "OTEL_BSP_MAX_QUEUE_SIZE";
/// Items per request.
pub const OTEL_BSP_MAX_EXPORT_BATCH_SIZE: &str = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE";

/// Bytes of a string attribute value, every signal (default 262144: the spec's is unlimited).
pub const OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Attributes per span, event, link and log record (default 128).
pub const OTEL_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_ATTRIBUTE_COUNT_LIMIT";
/// Bytes of a span's string attribute value (default: the general limit).
pub const OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Attributes per span (default: the general limit).
pub const OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT";
/// Events per span (default 128).
pub const OTEL_SPAN_EVENT_COUNT_LIMIT: &str = "OTEL_SPAN_EVENT_COUNT_LIMIT";
/// Links per span (default 128).
pub const OTEL_SPAN_LINK_COUNT_LIMIT: &str = "OTEL_SPAN_LINK_COUNT_LIMIT";
/// Attributes per span event (default 128).
pub const OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT";
/// Attributes per span link (default 128).
pub const OTEL_LINK_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT";
/// Bytes of a log record's string attribute value and body (default: the general limit).
pub const OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT: &str =
    "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT";
/// Attributes per log record (default: the general limit).
pub const OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT: &str = "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT";

/// The variables the fallback resource reads when the environment is a test's list
/// (with the process environment, `Resource::from_env` reads them itself).
const RESOURCE_VARS: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "WEBSITE_SITE_NAME",
    "WEBSITE_INSTANCE_ID",
    "FUNCTIONS_WORKER_RUNTIME",
    "KUBERNETES_SERVICE_HOST",
    "HOSTNAME",
];

/// A signal's own variable: `OTEL_EXPORTER_OTLP_<SIGNAL>_<suffix>`.
pub fn signal_var(signal: Signal, suffix: &str) -> String {
    format!("OTEL_EXPORTER_OTLP_{}_{suffix}", signal_infix(signal))
}

impl OtlpBuilder {
    fn signal_setting<T>(
        &self,
        signal: Signal,
        suffix: &str,
        parse: impl Fn(&str, &str) -> Result<T, OtlpError>,
    ) -> Result<Option<T>, OtlpError> {
        let specific = signal_var(signal, suffix);
        if let Some(v) = self.env.value(&specific) {
            return parse(&specific, &v).map(Some);
        }
        let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
        match self.env.value(&generic) {
            Some(v) => parse(&generic, &v).map(Some),
            None => Ok(None),
        }
    }

    fn endpoint_for(&self, signal: Signal) -> Result<Endpoint, OtlpError> {
        let protocol = match self.signal_protocols[signal_index(signal)].or(self.protocol) {
            Some(p) => p,
            None => self
                .signal_setting(signal, "PROTOCOL", parse_protocol)?
                .unwrap_or(Protocol::HttpProtobuf),
        };
        #[cfg(not(feature = "http-json"))]
        if protocol == Protocol::HttpJson {
            return Err(OtlpError::InvalidValue {
                name: "with_protocol".into(),
                value: "http/json".into(),
                reason: "http/json needs the `http-json` cargo feature of tracing-insights-otlp"
                    .into(),
            });
        }
        #[cfg(not(feature = "grpc"))]
        if protocol == Protocol::Grpc {
            return Err(OtlpError::InvalidValue {
                name: "with_protocol".into(),
                value: "grpc".into(),
                reason: "grpc needs the `grpc` cargo feature of tracing-insights-otlp".into(),
            });
        }
        // gRPC: the URL is the server address, used as given (no `/v1/<signal>`).
        let join = |base: &str| -> String {
            if protocol == Protocol::Grpc {
                base.to_owned()
            } else {
                signal_url(base, signal)
            }
        };
        let (source, url) = if let Some(url) = &self.signal_endpoints[signal_index(signal)] {
            (
                format!("with_signal_endpoint({})", signal_name(signal)),
                url.trim().to_owned(),
            )
        } else if let Some(base) = &self.endpoint {
            validate_url("with_endpoint", base.trim())?;
            ("with_endpoint".to_owned(), join(base.trim()))
        } else {
            let specific = signal_var(signal, "ENDPOINT");
            if let Some(url) = self.env.value(&specific) {
                (specific, url)
            } else if let Some(base) = self.env.value(OTEL_EXPORTER_OTLP_ENDPOINT) {
                validate_url(OTEL_EXPORTER_OTLP_ENDPOINT, &base)?;
                (OTEL_EXPORTER_OTLP_ENDPOINT.to_owned(), join(&base))
            } else if protocol == Protocol::Grpc {
                (
                    "the default endpoint".to_owned(),
                    DEFAULT_GRPC_ENDPOINT.to_owned(),
                )
            } else {
                (
                    "the default endpoint".to_owned(),
                    signal_url(DEFAULT_ENDPOINT, signal),
                )
            }
        };
        validate_url(&source, &url)?;
        // A signal URL with no path posts to `/` (the specification's example 2): that is
        // what the URL parser gives, so nothing to do.

        let mut headers = Vec::new();
        if let Some(v) = self.env.value(OTEL_EXPORTER_OTLP_HEADERS) {
            for (k, v) in parse_headers(OTEL_EXPORTER_OTLP_HEADERS, &v)? {
                merge_header(&mut headers, k, v);
            }
        }
        let specific = signal_var(signal, "HEADERS");
        if let Some(v) = self.env.value(&specific) {
            for (k, v) in parse_headers(&specific, &v)? {
                merge_header(&mut headers, k, v);
            }
        }
        for (k, v) in self
            .headers
            .iter()
            .chain(&self.signal_headers[signal_index(signal)])
        {
            if http::HeaderName::from_bytes(k.as_bytes()).is_err() {
                return Err(OtlpError::InvalidHeaders {
                    source_name: "with_header".into(),
                    reason: format!("`{}` is not a valid header name", k.escape_default()),
                });
            }
            if http::HeaderValue::from_str(v).is_err() {
                return Err(OtlpError::InvalidHeaders {
                    source_name: "with_header".into(),
                    reason: format!(
                        "the value of `{k}` has characters a header cannot carry (control characters or line breaks)"
                    ),
                });
            }
            merge_header(&mut headers, k.clone(), v.clone());
        }

        let compression = match self.compression {
            Some(c) => c,
            None => self
                .signal_setting(signal, "COMPRESSION", parse_compression)?
                .unwrap_or_default(),
        };
        let timeout = match self.timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => self
                .signal_setting(signal, "TIMEOUT", parse_millis)?
                .unwrap_or(Some(Duration::from_secs(10))),
        };
        let tls = Arc::new(self.tls_for(signal)?);
        let endpoint = Endpoint {
            signal,
            url,
            headers,
            protocol,
            compression,
            timeout,
            tls,
        };
        // The gRPC client checks the address and the TLS files now, so a bad one is an
        // error here rather than a failing export later.
        #[cfg(feature = "grpc")]
        if protocol == Protocol::Grpc {
            crate::grpc::GrpcTransport::new(&endpoint).map_err(|reason| {
                OtlpError::InvalidEndpoint {
                    source_name: source.clone(),
                    value: tracing_insights_export::redirect::mask_url(&endpoint.url),
                    reason,
                }
            })?;
        }
        Ok(endpoint)
    }

    /// `OTEL_EXPORTER_OTLP[_SIGNAL]_CERTIFICATE` (PEM roots that replace the built-in ones),
    /// `_CLIENT_CERTIFICATE` and `_CLIENT_KEY` (PEM, for mTLS; both or neither).
    fn tls_for(&self, signal: Signal) -> Result<crate::tls::TlsFiles, OtlpError> {
        let var = |suffix: &str| -> Option<(String, String)> {
            let specific = signal_var(signal, suffix);
            if let Some(v) = self.env.value(&specific) {
                return Some((specific, v));
            }
            let generic = format!("OTEL_EXPORTER_OTLP_{suffix}");
            self.env.value(&generic).map(|v| (generic, v))
        };
        let mut files = crate::tls::TlsFiles::default();
        if let Some((name, path)) = var("CERTIFICATE") {
            files = files.with_ca(crate::tls::read_certs(&name, &path)?);
        }
        match (var("CLIENT_CERTIFICATE"), var("CLIENT_KEY")) {
            (Some((cname, cpath)), Some((kname, kpath))) => {
                let chain = crate::tls::read_certs(&cname, &cpath)?;
                let key = crate::tls::read_key(&kname, &kpath)?;
                files = files.with_client(chain, key);
            }
            (Some((name, path)), None) | (None, Some((name, path))) => {
                return Err(OtlpError::InvalidValue {
                    name,
                    value: path,
                    reason: format!("mTLS needs both {OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE} and {OTEL_EXPORTER_OTLP_CLIENT_KEY} (or their signal variants)"),
                });
            }
            (None, None) => {}
        }
        Ok(files)
    }

    fn millis_var(&self, name: &str, default: Duration) -> Result<Duration, OtlpError> {
        match self.env.value(name) {
            None => Ok(default),
            Some(v) => Ok(parse_millis(name, &v)?.unwrap_or(default)),
        }
    }

    fn count_var(&self, name: &str, default: usize) -> Result<usize, OtlpError> {
        match self.env.value(name) {
            None => Ok(default),
            Some(v) => parse_positive(name, &v),
        }
    }

    /// The endpoint of every enabled signal, in the order traces, logs, metrics.
    pub(crate) fn endpoints(&self) -> Result<Vec<Endpoint>, OtlpError> {
        let mut endpoints = Vec::new();
        for signal in SIGNALS {
            let on = match self.enabled[signal_index(signal)] {
                Some(on) => on,
                None => exporter_enabled(&self.env, signal)?,
            };
            if on {
                endpoints.push(self.endpoint_for(signal)?);
            }
        }
        Ok(endpoints)
    }

    /// What the pipelines share: the builder's settings, else the variables, else defaults.
    pub(crate) fn settings(&self) -> Result<Settings, OtlpError> {
        let temporality = match self.temporality {
            Some(t) => Aggregation::from(t),
            None => match self
                .env
                .value(OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE)
            {
                Some(v) => {
                    parse_temporality(OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, &v)?
                }
                None => Aggregation::Cumulative,
            },
        };
        let metric_interval = match self.metric_interval {
            Some(i) => i,
            None => self.millis_var(OTEL_METRIC_EXPORT_INTERVAL, Duration::from_secs(60))?,
        };
        let delays = match self.batch_delay {
            Some(d) => [d, d],
            None => [
                self.millis_var(OTEL_BSP_SCHEDULE_DELAY, Duration::from_secs(5))?,
                self.millis_var(OTEL_BLRP_SCHEDULE_DELAY, Duration::from_secs(1))?,
            ],
        };
        let queue_capacity = match self.queue_capacity {
            Some(c) => c,
            None => self.count_var(OTEL_BSP_MAX_QUEUE_SIZE, 2048)?,
        };
        let max_batch = match self.max_batch {
            Some(b) => b,
            None => self.count_var(OTEL_BSP_MAX_EXPORT_BATCH_SIZE, 512)?,
        };
        let value_len = self.count_var(OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT, MAX_VALUE_BYTES)?;
        let attributes = self.count_var(OTEL_ATTRIBUTE_COUNT_LIMIT, DEFAULT_COUNT)?;
        let span_limits = Limits {
            value_len: self.count_var(OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT, value_len)?,
            attributes: self.count_var(OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT, attributes)?,
            events: self.count_var(OTEL_SPAN_EVENT_COUNT_LIMIT, DEFAULT_COUNT)?,
            links: self.count_var(OTEL_SPAN_LINK_COUNT_LIMIT, DEFAULT_COUNT)?,
            event_attributes: self.count_var(OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT, DEFAULT_COUNT)?,
            link_attributes: self.count_var(OTEL_LINK_ATTRIBUTE_COUNT_LIMIT, DEFAULT_COUNT)?,
        };
        let log_limits = Limits {
            value_len: self.count_var(OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT, value_len)?,
            attributes: self.count_var(OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT, attributes)?,
            ..Limits::default()
        };
        Ok(Settings {
            span_limits,
            log_limits,
            max_request_bytes: self.max_request_bytes.unwrap_or(DEFAULT_MAX_REQUEST_BYTES),
            name: self.name.clone(),
            queue_capacity,
            max_batch,
            delays,
            metric_interval,
            max_attempts: self.retries.0,
            retry_base: self.retries.1,
            temporality,
            bounds: self.bounds.clone(),
            storage: self.storage.clone(),
            retry_interval: self.retry_interval,
            auth: self.auth.clone(),
            processors: Default::default(),
        })
    }

    /// The resource exported when no correlation layer is stacked.
    pub(crate) fn fallback_resource(&self) -> Resource {
        match &self.resource {
            Some(r) => r.clone(),
            // A test's variable list: the resource comes from it too.
            None if !self.env.is_process() => Resource::builder()
                .with_env_vars(self.env.pairs(RESOURCE_VARS))
                .build(),
            None => Resource::from_env(),
        }
    }
}
