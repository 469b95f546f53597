//! The matcher language of the Langfuse conformance suite (`langfuse-suite/README.md`, "Value
//! matching"): plain values are Jest `toEqual`, one-key objects starting with `$` are matchers,
//! and `absent` specs name fields that must be missing.
//!
//! Two representation rules follow from our read API rather than from Jest:
//! - The API writes a missing field as `null`, so an actual `null` counts as `undefined`
//!   (`$present` fails on it, and an expected `null` matches a missing field).
//! - Inside `input`, `output` and `metadata` the API returns JSON text as JSON values, so a
//!   string expectation also matches the value its JSON text parses to, and a structural
//!   expectation also matches JSON text that parses to it (README, "input / output
//!   representation").
//! - Times (`startTime`, `endTime`, `completionStartTime`) are instants at millisecond precision
//!   (README, "Timestamps"): an expected RFC 3339 string with another offset or more digits
//!   matches the API's `...T20:16:28.152Z` form of the same instant, truncated to milliseconds.

use serde_json::{Map, Value};

/// The first place where an actual value does not match its expectation.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    pub path: String,
    pub expected: String,
    pub actual: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {}, actual {}",
            self.path, self.expected, self.actual
        )
    }
}

/// What a match needs besides the two values.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The record (observation or trace) the value belongs to, for `$equalsField`.
    pub record: Option<&'a Map<String, Value>>,
    /// How values of this field are represented (module comment).
    pub representation: Representation,
}

/// Which equivalent forms a field's values have besides equal JSON.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Representation {
    Plain,
    /// JSON text and the value it parses to are the same content.
    JsonText,
    /// RFC 3339 strings are instants compared at millisecond precision.
    Instant,
}

impl Representation {
    /// The representation of a top-level trace or observation field.
    pub fn of_field(field: &str) -> Self {
        match field {
            // The read API returns content that arrived as JSON text parsed.
            "input" | "output" | "metadata" => Representation::JsonText,
            "startTime" | "endTime" | "completionStartTime" => Representation::Instant,
            _ => Representation::Plain,
        }
    }
}

/// Compact JSON for messages, cut to a readable length.
pub fn show(value: Option<&Value>) -> String {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return "undefined".into();
    };
    let text = value.to_string();
    if text.chars().count() > 240 {
        let head: String = text.chars().take(240).collect();
        format!("{head}…")
    } else {
        text
    }
}

fn mismatch(path: &str, expected: String, actual: Option<&Value>) -> Mismatch {
    Mismatch {
        path: path.to_owned(),
        expected,
        actual: show(actual),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// `Some(Null)` is `undefined` (see the module comment).
fn defined(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

/// The one `$name` key of a matcher object, if `value` is one.
fn matcher_of(value: &Value) -> Option<(&str, &Value)> {
    match value {
        Value::Object(map) if map.len() == 1 => map
            .iter()
            .next()
            .filter(|(k, _)| k.starts_with('$'))
            .map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

/// JSON text parsed, when `json_text` applies and the value is a string holding JSON.
fn parsed_text(value: &Value, context: Context) -> Option<Value> {
    match value {
        Value::String(text) if context.representation == Representation::JsonText => {
            serde_json::from_str(text).ok()
        }
        _ => None,
    }
}

/// Matches `actual` (None = undefined) against an expectation (plain value or matcher).
pub fn check(
    expected: &Value,
    actual: Option<&Value>,
    context: Context,
    path: &str,
) -> Result<(), Mismatch> {
    let actual = defined(actual);
    let Some((name, argument)) = matcher_of(expected) else {
        return equal(expected, actual, context, path);
    };
    match name {
        "$subset" => {
            let Value::Object(wanted) = argument else {
                return Err(mismatch(
                    path,
                    format!("a valid $subset (object), got {argument}"),
                    actual,
                ));
            };
            let owned = actual.and_then(|a| parsed_text(a, context));
            let Some(Value::Object(object)) = owned.as_ref().or(actual) else {
                return Err(mismatch(
                    path,
                    format!("an object with {}", show(Some(argument))),
                    actual,
                ));
            };
            for (key, wanted_value) in wanted {
                check(wanted_value, object.get(key), context, &join(path, key))?;
            }
            Ok(())
        }
        "$array" => {
            let owned = actual.and_then(|a| parsed_text(a, context));
            let Some(Value::Array(items)) = owned.as_ref().or(actual) else {
                return Err(mismatch(path, "an array".into(), actual));
            };
            if let Some(length) = argument.get("length")
                && length.as_u64() != Some(items.len() as u64)
            {
                return Err(mismatch(
                    &join(path, "length"),
                    length.to_string(),
                    Some(&Value::from(items.len())),
                ));
            }
            if let Some(Value::Object(at)) = argument.get("at") {
                for (index, wanted_value) in at {
                    let Ok(position) = index.parse::<usize>() else {
                        return Err(mismatch(
                            path,
                            format!("a valid $array index, got {index:?}"),
                            actual,
                        ));
                    };
                    check(
                        wanted_value,
                        items.get(position),
                        context,
                        &format!("{path}[{position}]"),
                    )?;
                }
            }
            Ok(())
        }
        "$json" => match actual {
            Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                Ok(parsed) => check(argument, Some(&parsed), context, path),
                Err(_) => Err(mismatch(
                    path,
                    format!("JSON text matching {}", show(Some(argument))),
                    actual,
                )),
            },
            _ => check(argument, actual, context, path),
        },
        "$in" => {
            let Value::Array(options) = argument else {
                return Err(mismatch(
                    path,
                    format!("a valid $in (array), got {argument}"),
                    actual,
                ));
            };
            if options
                .iter()
                .any(|option| equal(option, actual, context, path).is_ok())
            {
                Ok(())
            } else {
                Err(mismatch(path, format!("one of {argument}"), actual))
            }
        }
        "$present" => {
            let wanted = argument.as_bool().unwrap_or(true);
            if actual.is_some() == wanted {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    if wanted {
                        "a defined value"
                    } else {
                        "undefined"
                    }
                    .into(),
                    actual,
                ))
            }
        }
        "$falsy" => {
            let wanted = argument.as_bool().unwrap_or(true);
            if is_falsy(actual) == wanted {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    if wanted {
                        "a falsy value"
                    } else {
                        "a truthy value"
                    }
                    .into(),
                    actual,
                ))
            }
        }
        "$allOf" => {
            let Value::Array(all) = argument else {
                return Err(mismatch(
                    path,
                    format!("a valid $allOf (array), got {argument}"),
                    actual,
                ));
            };
            all.iter().try_for_each(|m| check(m, actual, context, path))
        }
        "$keyPrefixSum" => {
            let prefix = argument
                .get("prefix")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let Some(sum) = argument.get("sum").and_then(Value::as_f64) else {
                return Err(mismatch(
                    path,
                    format!("a valid $keyPrefixSum, got {argument}"),
                    actual,
                ));
            };
            let Some(Value::Object(object)) = actual else {
                return Err(mismatch(
                    path,
                    format!("an object whose {prefix:?}* keys sum to {sum}"),
                    actual,
                ));
            };
            let total: f64 = object
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .filter_map(|(_, v)| v.as_f64())
                .sum();
            if total == sum {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!("{prefix:?}* keys summing to {sum} (sum is {total})"),
                    actual,
                ))
            }
        }
        "$equalsField" => {
            let field = argument.as_str().unwrap_or_default();
            let other = defined(context.record.and_then(|record| record.get(field)));
            match other {
                Some(other_value) => equal(other_value, actual, context, path).map_err(|_| {
                    mismatch(
                        path,
                        format!("the value of {field} ({})", show(other)),
                        actual,
                    )
                }),
                None if actual.is_none() => Ok(()),
                None => Err(mismatch(
                    path,
                    format!("the value of {field} (undefined)"),
                    actual,
                )),
            }
        }
        "$contains" => {
            let found = match (actual, argument) {
                (Some(Value::String(text)), Value::String(part)) => text.contains(part.as_str()),
                (Some(Value::Array(items)), wanted) => items
                    .iter()
                    .any(|item| check(wanted, Some(item), context, path).is_ok()),
                _ => false,
            };
            if found {
                Ok(())
            } else {
                Err(mismatch(
                    path,
                    format!("a value containing {argument}"),
                    actual,
                ))
            }
        }
        "$type" => {
            let wanted = argument.as_str().unwrap_or_default();
            if type_name(actual) == wanted {
                Ok(())
            } else {
                Err(mismatch(path, format!("a value of type {wanted}"), actual))
            }
        }
        "$not" => match check(argument, actual, context, path) {
            Ok(()) => Err(mismatch(
                path,
                format!("not {}", show(Some(argument))),
                actual,
            )),
            Err(_) => Ok(()),
        },
        other => Err(mismatch(
            path,
            format!("a known matcher, got {other}"),
            actual,
        )),
    }
}

/// Jest `toBeFalsy`.
fn is_falsy(actual: Option<&Value>) -> bool {
    match actual {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => !b,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        Some(Value::Array(_) | Value::Object(_)) => false,
    }
}

fn type_name(actual: Option<&Value>) -> &'static str {
    match actual {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// Numbers compare by value (`1` equals `1.0`, as in JavaScript).
fn numbers_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => x == y,
        _ => match (a.as_u64(), b.as_u64()) {
            (Some(x), Some(y)) => x == y,
            _ => a.as_f64() == b.as_f64(),
        },
    }
}

/// Jest `toEqual` on a plain expected value (matchers may nest inside it).
fn equal(
    expected: &Value,
    actual: Option<&Value>,
    context: Context,
    path: &str,
) -> Result<(), Mismatch> {
    if matcher_of(expected).is_some() {
        return check(expected, actual, context, path);
    }
    let actual = defined(actual);
    let fail = || mismatch(path, show(Some(expected)), actual);
    let Some(actual_value) = actual else {
        return if expected.is_null() {
            Ok(())
        } else {
            Err(fail())
        };
    };
    match (expected, actual_value) {
        (Value::Null, _) => Err(fail()),
        (Value::Bool(a), Value::Bool(b)) if a == b => Ok(()),
        (Value::Number(a), Value::Number(b)) if numbers_equal(a, b) => Ok(()),
        (Value::String(a), Value::String(b)) if a == b => Ok(()),
        (Value::String(a), Value::String(b))
            if context.representation == Representation::Instant
                && unix_millis(a).is_some()
                && unix_millis(a) == unix_millis(b) =>
        {
            Ok(())
        }
        (Value::Array(wanted), Value::Array(items)) => {
            if wanted.len() != items.len() {
                return Err(mismatch(
                    path,
                    format!("{} (length {})", show(Some(expected)), wanted.len()),
                    actual,
                ));
            }
            wanted
                .iter()
                .zip(items)
                .enumerate()
                .try_for_each(|(index, (w, item))| {
                    equal(w, Some(item), context, &format!("{path}[{index}]"))
                })
        }
        (Value::Object(wanted), Value::Object(object)) => {
            for (key, wanted_value) in wanted {
                equal(wanted_value, object.get(key), context, &join(path, key))?;
            }
            match object
                .iter()
                .find(|(key, value)| !value.is_null() && !wanted.contains_key(*key))
            {
                Some((key, value)) => {
                    Err(mismatch(&join(path, key), "undefined".into(), Some(value)))
                }
                None => Ok(()),
            }
        }
        _ => {
            // JSON text and its parsed value are one content (module comment); compare once
            // more after parsing, without parsing again below.
            let plain = Context {
                representation: Representation::Plain,
                ..context
            };
            let expected_parsed = parsed_text(expected, context);
            let actual_parsed = parsed_text(actual_value, context);
            let candidates = [
                (expected_parsed.as_ref(), Some(actual_value)),
                (Some(expected), actual_parsed.as_ref()),
                (expected_parsed.as_ref(), actual_parsed.as_ref()),
            ];
            for (wanted, found) in candidates {
                if let (Some(wanted), Some(found)) = (wanted, found)
                    && equal(wanted, Some(found), plain, path).is_ok()
                {
                    return Ok(());
                }
            }
            Err(fail())
        }
    }
}

/// Milliseconds since the epoch of an RFC 3339 time (`2025-09-17T22:16:28.152000+02:00`,
/// `...Z`), fractions truncated; None when `text` is not one.
pub fn unix_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |range| number_in(text, range);
    if bytes.len() < 20
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
    {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (number_in(rest, 1..3)? * 60 + number_in(rest, 4..6)?)
        }
    };
    // Days from the civil date (H. Hinnant's algorithm), proleptic Gregorian calendar.
    let shifted_year = if month <= 2 { year - 1 } else { year };
    let era = shifted_year.div_euclid(400);
    let year_of_era = shifted_year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

/// The decimal number in `text[range]`, digits only.
fn number_in(text: &str, range: std::ops::Range<usize>) -> Option<i64> {
    let part = text.get(range)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Checks an `absent` spec: a `null` leaf means that field (or nested key) is missing or null;
/// an object descends into the actual object (a missing parent passes).
pub fn check_absent(
    spec: &Map<String, Value>,
    actual: Option<&Value>,
    path: &str,
) -> Result<(), Mismatch> {
    let Some(Value::Object(object)) = defined(actual) else {
        return Ok(());
    };
    for (key, nested) in spec {
        let here = join(path, key);
        match nested {
            Value::Object(inner) => check_absent(inner, object.get(key), &here)?,
            _ => {
                if let Some(value) = defined(object.get(key)) {
                    return Err(mismatch(&here, "absent".into(), Some(value)));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PLAIN: Context = Context {
        record: None,
        representation: Representation::Plain,
    };
    const CONTENT: Context = Context {
        record: None,
        representation: Representation::JsonText,
    };
    const TIME: Context = Context {
        record: None,
        representation: Representation::Instant,
    };

    fn ok(expected: Value, actual: Value) -> bool {
        check(&expected, Some(&actual), PLAIN, "x").is_ok()
    }

    #[test]
    fn plain_values_are_deep_equality() {
        assert!(ok(json!({"a": [1, "b"]}), json!({"a": [1, "b"]})));
        assert!(ok(json!(1), json!(1.0)), "numbers compare by value");
        assert!(
            ok(json!({"a": 1}), json!({"a": 1, "b": null})),
            "null keys are undefined"
        );
        assert!(
            !ok(json!({"a": 1}), json!({"a": 1, "b": 2})),
            "extra keys fail"
        );
        assert!(
            !ok(json!([1, 2]), json!([1, 2, 3])),
            "arrays are length-exact"
        );
        assert!(!ok(json!([2, 1]), json!([1, 2])), "arrays are ordered");
        assert!(!ok(json!("1"), json!(1)));
        assert!(!ok(json!(0.1), json!(0.10000001)));
        assert!(check(&json!(null), None, PLAIN, "x").is_ok());
        assert!(check(&json!("a"), None, PLAIN, "x").is_err());
    }

    #[test]
    fn subset_needs_each_listed_key() {
        assert!(ok(json!({"$subset": {"a": 1}}), json!({"a": 1, "b": 2})));
        assert!(!ok(json!({"$subset": {"a": 1}}), json!({"a": 2, "b": 2})));
        assert!(!ok(json!({"$subset": {"a": 1}}), json!({"b": 2})));
        assert!(!ok(json!({"$subset": {"a": 1}}), json!([1])));
        assert!(ok(
            json!({"$subset": {"a": {"$subset": {"b": 1}}}}),
            json!({"a": {"b": 1, "c": 2}})
        ));
        let error = check(
            &json!({"$subset": {"a": {"b": 1}}}),
            Some(&json!({"a": {"b": 2}})),
            PLAIN,
            "usage",
        );
        assert_eq!(error.map_err(|m| m.path), Err("usage.a.b".to_owned()));
    }

    #[test]
    fn array_checks_length_and_positions() {
        let spec = json!({"$array": {"length": 2, "at": {"1": {"$subset": {"role": "user"}}}}});
        assert!(ok(
            spec.clone(),
            json!([{}, {"role": "user", "content": "hi"}])
        ));
        assert!(!ok(spec.clone(), json!([{}, {"role": "assistant"}])));
        assert!(!ok(spec.clone(), json!([{}, {"role": "user"}, {}])));
        assert!(!ok(spec, json!({"role": "user"})));
        assert!(
            !ok(json!({"$array": {"at": {"3": 1}}}), json!([1])),
            "a missing index fails"
        );
    }

    #[test]
    fn json_parses_strings_first_and_accepts_values() {
        let spec = json!({"$json": {"$subset": {"a": 1}}});
        assert!(ok(spec.clone(), json!("{\"a\": 1, \"b\": 2}")));
        assert!(ok(spec.clone(), json!({"a": 1})));
        assert!(!ok(spec.clone(), json!("{\"a\": 2}")));
        assert!(!ok(spec, json!("not json")));
    }

    #[test]
    fn in_present_falsy_and_all_of() {
        assert!(ok(json!({"$in": ["GENERATION", "SPAN"]}), json!("SPAN")));
        assert!(!ok(json!({"$in": ["GENERATION", "SPAN"]}), json!("AGENT")));
        assert!(ok(json!({"$present": true}), json!("")));
        assert!(check(&json!({"$present": true}), None, PLAIN, "x").is_err());
        assert!(
            check(&json!({"$present": true}), Some(&Value::Null), PLAIN, "x").is_err(),
            "null is our missing"
        );
        for falsy in [json!(""), json!(0), json!(false), Value::Null] {
            assert!(ok(json!({"$falsy": true}), falsy));
        }
        assert!(!ok(json!({"$falsy": true}), json!("x")));
        assert!(!ok(json!({"$falsy": true}), json!([])));
        assert!(ok(
            json!({"$allOf": [{"$present": true}, {"$in": [1, 2]}]}),
            json!(2)
        ));
        assert!(!ok(
            json!({"$allOf": [{"$present": true}, {"$in": [1, 2]}]}),
            json!(3)
        ));
    }

    #[test]
    fn key_prefix_sum_adds_matching_keys() {
        let spec = json!({"$keyPrefixSum": {"prefix": "output", "sum": 60}});
        assert!(ok(
            spec.clone(),
            json!({"input": 100, "output": 35, "output_reasoning_tokens": 25})
        ));
        assert!(!ok(
            spec.clone(),
            json!({"input": 100, "output": 60, "output_reasoning_tokens": 25})
        ));
        assert!(!ok(spec, json!(60)));
    }

    #[test]
    fn equals_field_compares_with_a_sibling() {
        let record =
            json!({"startTime": "2025-01-01T00:00:00.000Z", "endTime": "2025-01-01T00:00:00.000Z"});
        let other =
            json!({"startTime": "2025-01-01T00:00:00.000Z", "endTime": "2025-01-01T00:00:01.000Z"});
        let spec = json!({"$equalsField": "endTime"});
        for (record, passes) in [(record, true), (other, false)] {
            let context = Context {
                record: record.as_object(),
                representation: Representation::Plain,
            };
            assert_eq!(
                check(&spec, record.get("startTime"), context, "startTime").is_ok(),
                passes
            );
        }
    }

    #[test]
    fn contains_type_and_not() {
        assert!(ok(json!({"$contains": "ell"}), json!("hello")));
        assert!(!ok(json!({"$contains": "xyz"}), json!("hello")));
        assert!(ok(json!({"$contains": 2}), json!([1, 2])));
        assert!(!ok(json!({"$contains": 3}), json!([1, 2])));
        assert!(ok(json!({"$type": "array"}), json!([])));
        assert!(!ok(json!({"$type": "string"}), json!([])));
        assert!(ok(json!({"$not": "a"}), json!("b")));
        assert!(!ok(json!({"$not": "a"}), json!("a")));
        assert!(!ok(json!({"$bogus": 1}), json!(1)), "unknown matchers fail");
    }

    #[test]
    fn json_text_and_its_value_are_one_content_only_in_content_fields() {
        let text = json!("[{\"role\": \"user\", \"content\": \"hello\"}]");
        let value = json!([{"role": "user", "content": "hello"}]);
        assert!(check(&text, Some(&value), CONTENT, "input").is_ok());
        assert!(check(&value, Some(&text), CONTENT, "input").is_ok());
        assert!(
            check(
                &text,
                Some(&json!("[{\"role\":\"user\",\"content\":\"hello\"}]")),
                CONTENT,
                "input"
            )
            .is_ok()
        );
        assert!(check(&text, Some(&value), PLAIN, "model").is_err());
        assert!(
            check(
                &text,
                Some(&json!([{"role": "user", "content": "bye"}])),
                CONTENT,
                "input"
            )
            .is_err()
        );
        assert!(
            check(
                &json!("plain words"),
                Some(&json!("plain words")),
                CONTENT,
                "input"
            )
            .is_ok()
        );
    }

    #[test]
    fn times_are_instants_at_millisecond_precision() {
        assert_eq!(
            unix_millis("2025-04-30T15:28:50.686Z"),
            Some(1_746_026_930_686)
        );
        assert_eq!(unix_millis("1970-01-01T00:00:00Z"), Some(0));
        let api = json!("2025-09-17T20:16:28.152Z");
        assert!(
            check(
                &json!("2025-09-17T22:16:28.152000+02:00"),
                Some(&api),
                TIME,
                "t"
            )
            .is_ok()
        );
        assert!(
            check(&json!("2025-09-17T20:16:28.152999Z"), Some(&api), TIME, "t").is_ok(),
            "truncated, not rounded"
        );
        assert!(check(&json!("2025-09-17T20:16:28.153Z"), Some(&api), TIME, "t").is_err());
        assert!(
            check(
                &json!("2025-09-17T20:16:28.152000+02:00"),
                Some(&api),
                TIME,
                "t"
            )
            .is_err()
        );
        assert!(
            check(
                &json!("2025-09-17T22:16:28.152000+02:00"),
                Some(&api),
                PLAIN,
                "t"
            )
            .is_err()
        );
        assert!(unix_millis("not a time").is_none());
    }

    #[test]
    fn absent_fields_must_be_missing_or_null() {
        let spec = json!({"model": null, "usageDetails": {"output": null}});
        let spec = spec.as_object().expect("object");
        assert!(
            check_absent(
                spec,
                Some(&json!({"model": null, "usageDetails": {"input": 1}})),
                "o"
            )
            .is_ok()
        );
        assert!(check_absent(spec, Some(&json!({"usageDetails": null})), "o").is_ok());
        let error = check_absent(spec, Some(&json!({"usageDetails": {"output": 3}})), "o");
        assert_eq!(
            error.map_err(|m| m.path),
            Err("o.usageDetails.output".to_owned())
        );
        assert!(check_absent(spec, Some(&json!({"model": "gpt-4o"})), "o").is_err());
    }
}
