//! OTLP `AnyValue` → JSON, and the small coercions every rule needs.
//!
//! Langfuse decodes attribute values in `convertValueToPlainJavascript` (reference §3.1) and then
//! works on plain JS values; we do the same with `serde_json::Value`, so the rule tables compare
//! one to one. Two deliberate differences: a `kvlistValue` becomes a JSON object (OTEP 4485
//! "complex attributes" send structured messages that way; Langfuse JSON-stringifies the raw
//! `AnyValue`), and `bytesValue` becomes a base64 string.

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use serde_json::{Map, Number, Value};

/// Decodes one attribute value. An empty `AnyValue` is `null`.
pub fn to_json(value: &AnyValue) -> Value {
    match &value.value {
        None | Some(any_value::Value::StringValueStrindex(_)) => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Number(Number::from(*i)),
        // JSON has no NaN/Infinity: keep them as the strings Langfuse keeps.
        Some(any_value::Value::DoubleValue(d)) => match Number::from_f64(*d) {
            Some(n) => Value::Number(n),
            None => Value::String(d.to_string()),
        },
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(to_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            let mut object = Map::new();
            for pair in &kv.values {
                let v = pair.value.as_ref().map(to_json).unwrap_or(Value::Null);
                object.insert(pair.key.clone(), v);
            }
            Value::Object(object)
        }
        Some(any_value::Value::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
    }
}

/// "Present" as the reference's conversion table uses it: `null`, `""`, `[]` and `{}` count as
/// absent; `0` and `false` are values.
pub fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// JavaScript truthiness, for the few Langfuse rules that use `||` rather than `??`.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// Text of a value as Langfuse stores it: strings verbatim (SDKs send JSON-encoded strings and
/// we must not re-encode them), anything else as JSON text.
pub fn to_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// [`to_text`] of an owned value: a string is moved, not copied (content can be kilobytes).
pub fn into_text(value: Value) -> String {
    match value {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

/// [`to_text`] of an attribute value without the intermediate JSON value for strings.
pub fn text_of(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        _ => to_text(&to_json(value)),
    }
}

/// Parses JSON text leniently: a string that is not JSON (plain text, or a value cut off by
/// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`) is `None`, never an error.
pub fn parse_json(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('{')
        || trimmed.starts_with('[')
        || trimmed.starts_with('"')
        || trimmed == "null"
        || trimmed == "true"
        || trimmed == "false"
        || trimmed.starts_with(|c: char| c == '-' || c.is_ascii_digit()))
    {
        return None;
    }
    serde_json::from_str(text).ok()
}

/// A value that may be JSON text (most GenAI content arrives as a JSON string inside a
/// `stringValue`): strings are parsed when they hold JSON, other values pass through.
pub fn json_or_self(value: &Value) -> Value {
    match value {
        Value::String(s) => parse_json(s).unwrap_or_else(|| value.clone()),
        other => other.clone(),
    }
}

/// A JSON object from a value that is an object or JSON text of one (`langfuse.*.metadata`,
/// `llm.invocation_parameters`, …). Anything else is `None`.
pub fn as_object(value: &Value) -> Option<Map<String, Value>> {
    match json_or_self(value) {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

/// A number from a JSON number or a numeric string (`"12"` → 12, as Langfuse coerces).
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    }
}

/// A token count: a non-negative integer (integer strings accepted). Floats and negatives are
/// dropped, as Langfuse's `UsageDetails` schema drops them.
pub fn as_token_count(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 9.0e15)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
}

/// `true` iff the value is boolean `true` or the string `"true"` (Langfuse's `public` and
/// `as_root` checks; other truthy values such as `"yes"` or `1` do not count).
pub fn is_true(value: &Value) -> bool {
    matches!(value, Value::Bool(true)) || matches!(value, Value::String(s) if s == "true")
}

/// Parses an ISO-8601 / RFC 3339 timestamp (`2025-04-30T15:28:50.686390Z`, `+02:00` offsets,
/// a space instead of `T`, no offset = UTC) into µs since the epoch. Also accepts the
/// JSON-quoted form old Langfuse SDKs send (`"\"2025-…Z\""`).
pub fn parse_timestamp_us(text: &str) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    let bytes = text.as_bytes();
    if bytes.len() < 19 {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if bytes[4] != b'-' || bytes[7] != b'-' || !matches!(bytes[10], b'T' | b't' | b' ') {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, b) in fraction.bytes().take(6).enumerate().take(digits) {
            micros += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        rest = &fraction[digits..];
    }
    let offset_seconds = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hhmm = rest[1..].replace(':', "");
            if hhmm.len() != 4 || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let h: i64 = hhmm[0..2].parse().ok()?;
            let m: i64 = hhmm[2..4].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(seconds * 1_000_000 + micros)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{KeyValue, KeyValueList};

    fn string(s: &str) -> AnyValue {
        AnyValue {
            value: Some(any_value::Value::StringValue(s.to_owned())),
        }
    }

    #[test]
    fn kvlist_becomes_object() {
        let v = AnyValue {
            value: Some(any_value::Value::KvlistValue(KeyValueList {
                values: vec![KeyValue {
                    key: "role".into(),
                    value: Some(string("user")),
                    ..Default::default()
                }],
            })),
        };
        assert_eq!(to_json(&v), serde_json::json!({"role": "user"}));
    }

    #[test]
    fn token_counts_are_non_negative_integers() {
        assert_eq!(as_token_count(&serde_json::json!("12")), Some(12));
        assert_eq!(as_token_count(&serde_json::json!(12.0)), Some(12));
        assert_eq!(as_token_count(&serde_json::json!(-1)), None);
        assert_eq!(as_token_count(&serde_json::json!(1.5)), None);
    }

    #[test]
    fn timestamps_parse_with_offsets_and_quotes() {
        assert_eq!(
            parse_timestamp_us("1970-01-01T00:00:01.5Z"),
            Some(1_500_000)
        );
        assert_eq!(
            parse_timestamp_us("\"2025-04-30T15:28:50.686390Z\""),
            Some(1_746_026_930_686_390)
        );
        assert_eq!(
            parse_timestamp_us("2025-04-30T17:28:50.686390+02:00"),
            Some(1_746_026_930_686_390)
        );
        assert_eq!(parse_timestamp_us("yesterday"), None);
    }

    #[test]
    fn plain_text_is_not_json() {
        assert_eq!(parse_json("hello"), None);
        assert_eq!(parse_json("[1, 2"), None);
        assert_eq!(parse_json("{\"a\":1}"), Some(serde_json::json!({"a": 1})));
    }
}
