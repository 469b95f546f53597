//! Typed reads of one event body (reference langfuse-legacy.md §1.4): every field is
//! "nullish" (absent and `null` mean not sent), and a present value of the wrong type makes
//! the event invalid with a message naming the field, as Langfuse's zod schemas do. Unknown
//! keys are ignored (zod strips them).

use serde_json::{Map, Value};

use crate::convert::family::langfuse::normalize_environment;
use crate::convert::vocab::value;

/// Why one event is refused (a per-event 400 inside the 207).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid(pub String);

impl Invalid {
    pub fn field(field: &str, expected: &str) -> Self {
        Invalid(format!("body.{field}: expected {expected}"))
    }
}

/// Longest id Langfuse accepts (`idSchema`).
pub const MAX_ID_CHARS: usize = 800;

/// One event body as an object, read field by field.
pub struct Body<'a>(pub &'a Map<String, Value>);

impl<'a> Body<'a> {
    /// The field's value, `None` when absent or `null`.
    pub fn get(&self, field: &str) -> Option<&'a Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    pub fn text(&self, field: &str) -> Result<Option<&'a str>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Invalid::field(field, "a string")),
        }
    }

    /// An id (`idSchema`): a string of 1–800 characters without `\r`.
    pub fn id(&self, field: &str) -> Result<Option<&'a str>, Invalid> {
        match self.text(field)? {
            None => Ok(None),
            Some(id) if valid_id(id) => Ok(Some(id)),
            Some(_) => Err(Invalid::field(
                field,
                "an id of 1 to 800 characters without carriage returns",
            )),
        }
    }

    pub fn boolean(&self, field: &str) -> Result<Option<bool>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Invalid::field(field, "true or false")),
        }
    }

    /// An ISO-8601 time with a zone, in µs since the epoch.
    pub fn time(&self, field: &str) -> Result<Option<i64>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => iso_time(s)
                .map(Some)
                .ok_or_else(|| Invalid::field(field, "an ISO-8601 time with a zone (Z or +hh:mm)")),
            Some(_) => Err(Invalid::field(field, "an ISO-8601 time string")),
        }
    }

    /// Any JSON value except `null` (input, output).
    pub fn any(&self, field: &str) -> Option<&'a Value> {
        self.get(field)
    }

    /// Strings only (`tags`).
    pub fn strings(&self, field: &str) -> Result<Option<Vec<String>>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| Invalid::field(field, "an array of strings")),
            Some(_) => Err(Invalid::field(field, "an array of strings")),
        }
    }

    /// `environment`: normalised, never rejected (`default` when absent or unusable).
    pub fn environment(&self) -> Option<String> {
        self.get("environment").map(|v| match v {
            Value::String(s) => normalize_environment(s),
            _ => "default".to_owned(),
        })
    }

    /// One of `allowed`, exactly.
    pub fn one_of(
        &self,
        field: &str,
        allowed: &[&'static str],
    ) -> Result<Option<&'static str>, Invalid> {
        match self.text(field)? {
            None => Ok(None),
            Some(s) => allowed
                .iter()
                .find(|a| **a == s)
                .copied()
                .map(Some)
                .ok_or_else(|| Invalid::field(field, &format!("one of {}", allowed.join(", ")))),
        }
    }

    /// An integer (`promptVersion`).
    pub fn integer(&self, field: &str) -> Result<Option<i64>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| Invalid::field(field, "an integer")),
            Some(_) => Err(Invalid::field(field, "an integer")),
        }
    }

    /// A JSON object (`usage`, `usageDetails`, `costDetails`, `modelParameters`).
    pub fn object(&self, field: &str) -> Result<Option<&'a Map<String, Value>>, Invalid> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(Invalid::field(field, "an object")),
        }
    }
}

/// Langfuse's `idSchema`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.contains('\r')
}

/// zod's `iso.datetime({offset: true})`: a date and time with a zone (`Z`, `+02:00`, `+0200`);
/// a time without a zone is refused, as Langfuse refuses it.
pub fn iso_time(text: &str) -> Option<i64> {
    let after_seconds = text.get(19..)?;
    let zone = after_seconds
        .strip_prefix('.')
        .map_or(after_seconds, |fraction| {
            fraction.trim_start_matches(|c: char| c.is_ascii_digit())
        });
    if zone.is_empty() || text.as_bytes().get(10).is_none_or(|b| *b != b'T') {
        return None;
    }
    value::parse_timestamp_us(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_need_a_zone() {
        assert_eq!(iso_time("1970-01-01T00:00:01Z"), Some(1_000_000));
        assert_eq!(iso_time("1970-01-01T00:00:01.5Z"), Some(1_500_000));
        assert_eq!(iso_time("1970-01-01T01:00:01+01:00"), Some(1_000_000));
        assert_eq!(iso_time("1970-01-01T01:00:01+0100"), Some(1_000_000));
        assert_eq!(iso_time("1970-01-01T00:00:01"), None);
        assert_eq!(iso_time("1970-01-01T00:00:01.123"), None);
        assert_eq!(iso_time("1970-01-01 00:00:01Z"), None);
        assert_eq!(iso_time("1970-13-01T00:00:01Z"), None);
        assert_eq!(iso_time("yesterday"), None);
    }

    #[test]
    fn ids_are_bounded() {
        assert!(valid_id("a"));
        assert!(!valid_id(""));
        assert!(!valid_id("a\rb"));
        assert!(!valid_id(&"x".repeat(801)));
    }
}
