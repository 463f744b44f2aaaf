//! Text helpers: char-boundary truncation, time and duration formats, Python-compatible
//! stringification of attribute values.

// Public for the conformance runner (feature `testing`); otherwise only the crate reaches them.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub))]

use tracing_insights_correlation::FieldValue;

/// `s` cut to at most `max` characters (Unicode scalar values, as Microsoft's exporter
/// counts them), always on a char boundary. Never panics.
pub fn truncate(s: &str, max: usize) -> &str {
    // No more bytes than `max` is no more characters: nothing to count (nearly every value).
    if s.len() <= max {
        return s;
    }
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// [`truncate`] for an owned string.
pub fn truncate_owned(mut s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    if let Some((i, _)) = s.char_indices().nth(max) {
        s.truncate(i);
    }
    s
}

/// A float as Python's `repr` writes it (`2.0`, `1e-07`, `3.14159`), so properties read the
/// same as those of Microsoft's exporters.
pub fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let s = format!("{v:e}");
    let Some((mant, exp)) = s.split_once('e') else {
        return s;
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let e = exp as usize;
            let int_part: String = if digits.len() > e {
                digits[..=e].to_string()
            } else {
                format!("{digits}{}", "0".repeat(e + 1 - digits.len()))
            };
            let frac = if digits.len() > e + 1 {
                &digits[e + 1..]
            } else {
                "0"
            };
            format!("{sign}{int_part}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let mant = if rest.is_empty() {
            first.to_string()
        } else {
            format!("{first}.{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{mant}e{esign}{:02}", exp.abs())
    }
}

/// A field value as a property string: booleans `True`/`False` (as Python and .NET write
/// them), integers in decimal, floats as Python's `repr`, strings as they are, errors as
/// their message.
pub fn value_string(v: &FieldValue) -> String {
    match v {
        FieldValue::Bool(true) => "True".into(),
        FieldValue::Bool(false) => "False".into(),
        FieldValue::F64(f) => py_float(*f),
        FieldValue::Str(s) => s.to_string(),
        FieldValue::Error(e) => e.message.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats() {
        for (v, s) in [
            (3.25159, "3.25159"),
            (2.0, "2.0"),
            (1e-7, "1e-07"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (123456789012345.0, "123456789012345.0"),
            (-0.5, "-0.5"),
            (0.2, "0.2"),
            (1.5e300, "1.5e+300"),
        ] {
            assert_eq!(py_float(v), s, "{v}");
        }
    }

    #[test]
    fn ten_thousand_euros_cut_on_a_char_boundary() {
        let s = "€".repeat(10_000);
        let t = truncate(&s, 8192);
        assert_eq!(t.chars().count(), 8192);
        assert_eq!(t.len(), 8192 * 3);
        assert_eq!(truncate_owned(s, 8192).chars().count(), 8192);
    }

    proptest::proptest! {
        #[test]
        fn truncation_never_panics(s in "\\PC*", max in 0usize..64) {
            let t = truncate(&s, max);
            proptest::prop_assert!(t.chars().count() <= max);
            proptest::prop_assert!(s.starts_with(t));
            let o = truncate_owned(s.clone(), max);
            proptest::prop_assert_eq!(o.as_str(), t);
        }
    }
}
