//! Filters: one validated `FilterInfo` (field, predicate, comparand) and the AND-ed groups
//! they form; what decides whether an item counts toward a derived metric or a document
//! stream.

use serde_json::Value;

use crate::telemetry::{Item, ItemType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pred {
    Equal,
    NotEqual,
    LessThan,
    GreaterThan,
    LessThanOrEqual,
    GreaterThanOrEqual,
    Contains,
    DoesNotContain,
}

impl Pred {
    pub(super) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Equal" => Self::Equal,
            "NotEqual" => Self::NotEqual,
            "LessThan" => Self::LessThan,
            "GreaterThan" => Self::GreaterThan,
            "LessThanOrEqual" => Self::LessThanOrEqual,
            "GreaterThanOrEqual" => Self::GreaterThanOrEqual,
            "Contains" => Self::Contains,
            "DoesNotContain" => Self::DoesNotContain,
            _ => return None,
        })
    }
    pub(super) fn is_ordering(self) -> bool {
        matches!(
            self,
            Self::LessThan | Self::GreaterThan | Self::LessThanOrEqual | Self::GreaterThanOrEqual
        )
    }
    pub(super) fn is_contains(self) -> bool {
        matches!(self, Self::Contains | Self::DoesNotContain)
    }
    pub(super) fn cmp_num(self, a: f64, b: f64) -> bool {
        match self {
            Self::Equal => a == b,
            Self::NotEqual => a != b,
            Self::LessThan => a < b,
            Self::GreaterThan => a > b,
            Self::LessThanOrEqual => a <= b,
            Self::GreaterThanOrEqual => a >= b,
            Self::Contains | Self::DoesNotContain => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StrField {
    Name,
    Url,
    Target,
    Type,
    Data,
    Message,
    Stack,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field {
    Any,
    Dim(String),
    Str(StrField),
    Code,
    Duration,
    Success,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Comparand {
    Text { exact: String, lower: String },
    Number(f64),
    Bool(bool),
}

/// One validated `FilterInfo`.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub(super) field: Field,
    pub(super) pred: Pred,
    pub(super) comparand: Comparand,
}

pub(super) fn known_field(ty: ItemType, name: &str) -> Option<Field> {
    let n = name.to_ascii_lowercase();
    let f = match (ty, n.as_str()) {
        (ItemType::Request | ItemType::Dependency, "name") => Field::Str(StrField::Name),
        (ItemType::Request, "url") => Field::Str(StrField::Url),
        (ItemType::Request, "responsecode") | (ItemType::Dependency, "resultcode") => Field::Code,
        (ItemType::Request | ItemType::Dependency, "duration") => Field::Duration,
        (ItemType::Request | ItemType::Dependency, "success") => Field::Success,
        (ItemType::Dependency, "target") => Field::Str(StrField::Target),
        (ItemType::Dependency, "type") => Field::Str(StrField::Type),
        (ItemType::Dependency, "data") => Field::Str(StrField::Data),
        (ItemType::Exception, "exception.message" | "message") => Field::Str(StrField::Message),
        (ItemType::Exception, "exception.stacktrace" | "stacktrace") => Field::Str(StrField::Stack),
        (ItemType::Trace, "message") => Field::Str(StrField::Message),
        _ => return None,
    };
    Some(f)
}

/// `d.h:m:s[.fff]` or `h:m:s[.fff]` (a .NET `TimeSpan`) in milliseconds.
pub(crate) fn parse_timespan_ms(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let [head, m, sec] = parts.as_slice() else {
        return None;
    };
    let (d, h) = match head.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().ok()?, h.parse::<u64>().ok()?),
        None => (0, head.parse::<u64>().ok()?),
    };
    let m = m.parse::<u64>().ok()?;
    let sec = sec
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)?;
    Some((((d * 24 + h) * 60 + m) as f64 * 60.0 + sec) * 1000.0)
}

impl Filter {
    /// Validates one `FilterInfo` (field, predicate, comparand) for telemetry type `ty`.
    pub(crate) fn compile(ty: ItemType, info: &Value) -> Result<Self, String> {
        let field_name = info.get("FieldName").and_then(Value::as_str).unwrap_or("");
        let pred_name = info.get("Predicate").and_then(Value::as_str).unwrap_or("");
        let comparand = info.get("Comparand").and_then(Value::as_str).unwrap_or("");
        if field_name.is_empty() {
            return Err("FieldName is empty".into());
        }
        if field_name.starts_with("CustomMetrics.") {
            return Err(format!(
                "FieldName {field_name:?}: CustomMetrics are not supported"
            ));
        }
        let pred =
            Pred::parse(pred_name).ok_or_else(|| format!("unknown Predicate {pred_name:?}"))?;
        if comparand.is_empty() {
            return Err(format!("FieldName {field_name:?}: the Comparand is empty"));
        }
        let field = if field_name == "*" {
            Field::Any
        } else if let Some(key) = field_name.strip_prefix("CustomDimensions.") {
            Field::Dim(key.to_owned())
        } else {
            known_field(ty, field_name).ok_or_else(|| {
                format!("FieldName {field_name:?} is not a field of {ty:?} telemetry")
            })?
        };
        let text = || Comparand::Text {
            exact: comparand.to_owned(),
            lower: comparand.to_lowercase(),
        };
        let bad_pred = || {
            Err(format!(
                "Predicate {pred_name} cannot be used with FieldName {field_name:?}"
            ))
        };
        let comparand = match &field {
            Field::Any => {
                if !pred.is_contains() {
                    return bad_pred();
                }
                text()
            }
            Field::Dim(_) | Field::Str(_) => {
                if pred.is_ordering() {
                    return bad_pred();
                }
                text()
            }
            Field::Code => {
                if pred.is_contains() {
                    return bad_pred();
                }
                let v = comparand.trim().parse::<i64>().map_err(|_| {
                    format!("Comparand {comparand:?} of {field_name:?} is not an integer")
                })?;
                Comparand::Number(v as f64)
            }
            Field::Duration => {
                if pred.is_contains() {
                    return bad_pred();
                }
                let ms = parse_timespan_ms(comparand).ok_or_else(|| {
                    format!("Comparand {comparand:?} of Duration is not a d.h:m:s[.fff] time span")
                })?;
                Comparand::Number(ms)
            }
            Field::Success => {
                if !matches!(pred, Pred::Equal | Pred::NotEqual) {
                    return bad_pred();
                }
                let b = if comparand.eq_ignore_ascii_case("true") {
                    true
                } else if comparand.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return Err(format!(
                        "Comparand {comparand:?} of Success is not true/false"
                    ));
                };
                Comparand::Bool(b)
            }
        };
        Ok(Self {
            field,
            pred,
            comparand,
        })
    }

    pub(super) fn str_value<'a>(item: &'a Item<'_>, f: StrField) -> Option<&'a str> {
        match f {
            StrField::Name => Some(item.name.as_str()),
            StrField::Url => item.url.as_deref(),
            StrField::Target => item.target.as_deref(),
            StrField::Type => item.dep_type.as_deref(),
            StrField::Data => item.data.as_deref(),
            StrField::Message => item.message.as_deref(),
            StrField::Stack => item.stack.as_deref(),
        }
    }

    pub(super) fn text_matches(&self, value: &str) -> bool {
        let Comparand::Text { exact, lower } = &self.comparand else {
            return false;
        };
        match self.pred {
            Pred::Equal => value == exact,
            Pred::NotEqual => value != exact,
            Pred::Contains => value.to_lowercase().contains(lower.as_str()),
            Pred::DoesNotContain => !value.to_lowercase().contains(lower.as_str()),
            _ => false,
        }
    }

    /// Whether `item` passes this filter.
    pub(crate) fn matches(&self, item: &Item<'_>) -> bool {
        match &self.field {
            Field::Str(f) => self.text_matches(Self::str_value(item, *f).unwrap_or("")),
            Field::Dim(key) => match item.dim(key) {
                Some(v) => self.text_matches(&v.to_string()),
                None => false,
            },
            Field::Any => {
                let Comparand::Text { lower, .. } = &self.comparand else {
                    return false;
                };
                let fields = [
                    StrField::Name,
                    StrField::Url,
                    StrField::Target,
                    StrField::Type,
                    StrField::Data,
                    StrField::Message,
                    StrField::Stack,
                ];
                let known = fields
                    .iter()
                    .filter_map(|f| Self::str_value(item, *f))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
                let code = item.code.iter().cloned();
                let dims = item.dims.iter().map(|(_, v)| v.to_string());
                let any = known
                    .chain(code)
                    .chain(dims)
                    .any(|v| v.to_lowercase().contains(lower.as_str()));
                if self.pred == Pred::Contains {
                    any
                } else {
                    !any
                }
            }
            Field::Code => {
                let Comparand::Number(c) = self.comparand else {
                    return false;
                };
                match item
                    .code
                    .as_deref()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                {
                    Some(v) => self.pred.cmp_num(v as f64, c),
                    None => false,
                }
            }
            Field::Duration => {
                let Comparand::Number(c) = self.comparand else {
                    return false;
                };
                self.pred.cmp_num(item.duration_ms(), c)
            }
            Field::Success => {
                let Comparand::Bool(b) = self.comparand else {
                    return false;
                };
                (item.success == b) == (self.pred == Pred::Equal)
            }
        }
    }
}

/// A group of filters, AND-ed (an empty group matches everything).
pub(super) fn group_matches(group: &[Filter], item: &Item<'_>) -> bool {
    group.iter().all(|f| f.matches(item))
}
