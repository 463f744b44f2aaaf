//! `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, read into the one [`Sampler`].

use crate::sampler::Sampler;
use std::fmt;

const SAMPLER: &str = "OTEL_TRACES_SAMPLER";
const ARG: &str = "OTEL_TRACES_SAMPLER_ARG";

/// A malformed `OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG`: names the variable, its
/// value and what is expected. `Debug` shows the same message, so `main() -> Result<(),
/// Box<dyn Error>>` prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct SamplerEnvError {
    variable: &'static str,
    value: String,
    expected: &'static str,
}

impl SamplerEnvError {
    /// The variable that is wrong (`OTEL_TRACES_SAMPLER` or `OTEL_TRACES_SAMPLER_ARG`).
    pub fn variable(&self) -> &'static str {
        self.variable
    }

    /// Its value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for SamplerEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

impl fmt::Debug for SamplerEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SamplerEnvError({self})")
    }
}

impl std::error::Error for SamplerEnvError {}

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` ask for, or `None` when
/// `OTEL_TRACES_SAMPLER` is unset or empty (keep the layer's sampler: by default every trace).
///
/// | `OTEL_TRACES_SAMPLER` | `OTEL_TRACES_SAMPLER_ARG` | sampler |
/// |---|---|---|
/// | `always_on` | | [`Sampler::always_on`] |
/// | `always_off` | | [`Sampler::always_off`] |
/// | `traceidratio` | ratio 0–1, default 1 | [`Sampler::ratio`] |
/// | `parentbased_always_on` | | `always_on`, a remote parent's `sampled` flag decides |
/// | `parentbased_always_off` | | `always_off`, a remote parent's `sampled` flag decides |
/// | `parentbased_traceidratio` | ratio 0–1, default 1 | `ratio`, a remote parent's `sampled` flag decides |
/// | `microsoft.fixed_percentage` (or `microsoft.fixed.percentage`) | ratio 0–1, default 1 | [`Sampler::ratio`]: Application Insights' `ApplicationInsightsSampler`, `sampleRate` = ratio × 100 |
/// | `microsoft.rate_limited` | traces per second, default 5 | [`Sampler::rate_limited`]: Application Insights' `RateLimitedSampler` |
///
/// Names are matched without regard to case and surrounding spaces. Every ratio is applied
/// to Application Insights' trace-id score ([`score`](crate::sampler::score)), so services in
/// other languages with the same ratio keep the same traces (OpenTelemetry's
/// `traceidratio` keeps the same fraction, though not necessarily the same traces as an
/// OpenTelemetry SDK would). Children of a span in this process always follow it. Any other
/// name (`jaeger_remote`, `xray`, a typo) and an argument that is not a number in range are
/// an error naming the variable.
///
/// ```
/// # fn main() -> Result<(), tracing_insights_correlation::SamplerEnvError> {
/// use tracing_insights_correlation as correlation;
/// let layer = match correlation::sampler_from_env()? {
///     Some(sampler) => correlation::layer().with_sampler(sampler),
///     None => correlation::layer(),
/// };
/// # drop(layer); Ok(()) }
/// ```
pub fn sampler_from_env() -> Result<Option<Sampler>, SamplerEnvError> {
    sampler_from_vars(|name| std::env::var(name).ok())
}

/// [`sampler_from_env`] over any source of variables.
pub(crate) fn sampler_from_vars(
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Sampler>, SamplerEnvError> {
    let Some(raw) = var(SAMPLER) else {
        return Ok(None);
    };
    let name = raw.trim().to_ascii_lowercase();
    if name.is_empty() {
        return Ok(None);
    }
    let arg = || var(ARG).filter(|v| !v.trim().is_empty());
    let ratio = || -> Result<Sampler, SamplerEnvError> {
        let Some(value) = arg() else {
            return Ok(Sampler::always_on());
        };
        value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|r| Sampler::ratio(r).ok())
            .ok_or(SamplerEnvError {
                variable: ARG,
                value,
                expected: "a sampling ratio from 0 to 1 (0.25 keeps a quarter of the traces)",
            })
    };
    let sampler = match name.as_str() {
        "always_on" => Sampler::always_on(),
        "always_off" => Sampler::always_off(),
        "traceidratio" | "microsoft.fixed_percentage" | "microsoft.fixed.percentage" => ratio()?,
        "parentbased_always_on" => Sampler::always_on().respect_remote_parent(true),
        "parentbased_always_off" => Sampler::always_off().respect_remote_parent(true),
        "parentbased_traceidratio" => ratio()?.respect_remote_parent(true),
        "microsoft.rate_limited" => match arg() {
            None => Sampler::rate_limited(5.0).unwrap_or_default(),
            Some(value) => value
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|r| Sampler::rate_limited(r).ok())
                .ok_or(SamplerEnvError {
                    variable: ARG,
                    value,
                    expected: "traces per second, a number of 0 or more (default 5)",
                })?,
        },
        _ => {
            return Err(SamplerEnvError {
                variable: SAMPLER,
                value: raw,
                expected: "always_on, always_off, traceidratio, parentbased_always_on, \
                           parentbased_always_off, parentbased_traceidratio, \
                           microsoft.fixed_percentage or microsoft.rate_limited",
            })
        }
    };
    Ok(Some(sampler))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TraceId;

    fn parse(sampler: Option<&str>, arg: Option<&str>) -> Result<Option<Sampler>, SamplerEnvError> {
        sampler_from_vars(|name| match name {
            SAMPLER => sampler.map(str::to_owned),
            ARG => arg.map(str::to_owned),
            _ => None,
        })
    }

    fn ok(sampler: &str, arg: Option<&str>) -> Sampler {
        parse(Some(sampler), arg).unwrap().unwrap()
    }

    #[test]
    fn unset_or_empty_means_no_sampler() {
        assert_eq!(parse(None, Some("0.5")).unwrap(), None);
        assert_eq!(parse(Some(" "), None).unwrap(), None);
    }

    #[test]
    fn the_spec_values() {
        assert_eq!(ok("always_on", Some("0.1")), Sampler::always_on());
        assert_eq!(ok("ALWAYS_OFF", None), Sampler::always_off());
        assert_eq!(
            ok("traceidratio", Some("0.25")),
            Sampler::ratio(0.25).unwrap()
        );
        assert_eq!(ok("traceidratio", None), Sampler::always_on());
        let pb = ok("parentbased_always_on", None);
        assert!(pb.respects_remote_parent() && pb.fraction() == 1.0);
        let pb = ok("parentbased_always_off", None);
        assert!(pb.respects_remote_parent() && pb.fraction() == 0.0);
        let pb = ok(" parentbased_traceidratio ", Some(" 0.5 "));
        assert!(pb.respects_remote_parent());
        assert_eq!(pb.sample_rate(), 50.0);
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert!(!pb.should_sample(id, Some(true)) || pb.respects_remote_parent());
        assert!(pb.should_sample(id, Some(true)));
        assert!(!pb.should_sample(id, Some(false)));
    }

    #[test]
    fn microsofts_values() {
        for name in ["microsoft.fixed_percentage", "microsoft.fixed.percentage"] {
            let s = ok(name, Some("0.5"));
            assert_eq!(s, Sampler::ratio(0.5).unwrap(), "{name}");
            assert_eq!(s.sample_rate(), 50.0);
            assert!(!s.respects_remote_parent());
            // Score 0.5279 ≥ 0.5: dropped whatever the caller says.
            let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
            assert!(!s.should_sample(id, Some(true)));
        }
        assert_eq!(ok("microsoft.fixed_percentage", None), Sampler::always_on());
        let r = ok("microsoft.rate_limited", Some("2.5"));
        assert_eq!(r.traces_per_second(), Some(2.5));
        assert!(!r.respects_remote_parent());
        assert_eq!(
            ok("Microsoft.Rate_Limited", None).traces_per_second(),
            Some(5.0)
        );
    }

    #[test]
    fn malformed_values_name_the_variable_and_the_value() {
        let e = parse(Some("jaeger_remote"), None).unwrap_err();
        assert_eq!(e.variable(), "OTEL_TRACES_SAMPLER");
        assert!(e
            .to_string()
            .starts_with("OTEL_TRACES_SAMPLER=\"jaeger_remote\" is not valid"));
        assert!(format!("{e:?}").contains("jaeger_remote"), "{e:?}");
        assert!(parse(Some("microsoft.percentage"), None).is_err());
        for (name, arg) in [
            ("traceidratio", "1.5"),
            ("traceidratio", "half"),
            ("parentbased_traceidratio", "-0.1"),
            ("microsoft.fixed_percentage", "50"),
            ("microsoft.fixed.percentage", "NaN"),
            ("microsoft.rate_limited", "-1"),
            ("microsoft.rate_limited", "inf"),
            ("microsoft.rate_limited", "five"),
        ] {
            let e = parse(Some(name), Some(arg)).unwrap_err();
            assert_eq!(e.variable(), "OTEL_TRACES_SAMPLER_ARG", "{name}");
            assert_eq!(e.value(), arg);
            let msg = e.to_string();
            assert!(msg.starts_with("OTEL_TRACES_SAMPLER_ARG="), "{msg}");
            assert!(format!("{e:?}").contains(&msg), "{e:?}");
        }
    }
}
