//! The four actions on one text value: `redact` (pattern matches replaced, inside JSON string
//! values too), `hash` (keyed, stable), `drop` (the caller removes the value), `truncate`.

use hmac::{Hmac, Mac};
use regex::RegexSet;
use serde_json::Value;
use sha2::Sha256;

use super::patterns::Pattern;

/// Appended to a truncated value, so a reader knows the text was cut at the door.
pub const TRUNCATED_MARKER: &str = "…[TRUNCATED]";

/// The patterns of one `redact` rule, with a `RegexSet` in front: one pass over the text tells
/// which patterns match at all, and text without a match (most text) costs only that pass.
#[derive(Debug, Clone)]
pub struct Redactor {
    set: RegexSet,
    patterns: Vec<Pattern>,
}

/// Matches per pattern index, counted for the metrics.
pub type Counts = Vec<u64>;

impl Redactor {
    pub fn new(patterns: Vec<Pattern>) -> Result<Self, String> {
        let set = RegexSet::new(patterns.iter().map(|p| p.expression.as_str()))
            .map_err(|error| format!("invalid regex: {error}"))?;
        Ok(Self { set, patterns })
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The redacted text, or `None` when nothing matched (the value stays as it is). JSON text
    /// (an object, array or string) is parsed and only its string values are redacted, so the
    /// structure survives; anything else is redacted as plain text.
    pub fn redact(&self, text: &str, counts: &mut Counts) -> Option<String> {
        // A `\u` escape can hide a match from the raw-text pass; such JSON is always parsed.
        if !text.contains("\\u") && !self.may_match(text) {
            return None;
        }
        if matches!(
            text.trim_start().as_bytes().first(),
            Some(b'{' | b'[' | b'"')
        ) && let Ok(mut json) = serde_json::from_str::<Value>(text)
        {
            return self
                .redact_json(&mut json, counts)
                .then(|| serde_json::to_string(&json).unwrap_or_default());
        }
        self.redact_plain(text, counts)
    }

    /// The prefilters, then one `RegexSet` pass.
    fn may_match(&self, text: &str) -> bool {
        let mut digits = None;
        self.patterns
            .iter()
            .any(|pattern| pattern.need.met(text, &mut digits))
            && self.set.is_match(text)
    }

    /// Redacts string leaves in place; true if any changed. Object keys are structure, kept.
    fn redact_json(&self, value: &mut Value, counts: &mut Counts) -> bool {
        match value {
            Value::String(text) => match self.redact_plain(text, counts) {
                Some(redacted) => {
                    *text = redacted;
                    true
                }
                None => false,
            },
            Value::Array(items) => items.iter_mut().fold(false, |changed, item| {
                self.redact_json(item, counts) | changed
            }),
            Value::Object(fields) => fields.values_mut().fold(false, |changed, item| {
                self.redact_json(item, counts) | changed
            }),
            _ => false,
        }
    }

    fn redact_plain(&self, text: &str, counts: &mut Counts) -> Option<String> {
        let mut digits = None;
        if !self
            .patterns
            .iter()
            .any(|pattern| pattern.need.met(text, &mut digits))
        {
            return None;
        }
        let matched = self.set.matches(text);
        if !matched.matched_any() {
            return None;
        }
        // Every accepted match of every matching pattern; overlaps go to the earliest, then
        // the longest (a card number is not also a phone number).
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for index in matched.iter() {
            let pattern = &self.patterns[index];
            found.extend(
                pattern
                    .regex
                    .find_iter(text)
                    .filter(|m| !m.is_empty() && pattern.accepts(text, m.start(), m.end()))
                    .map(|m| (m.start(), m.end(), index)),
            );
        }
        if found.is_empty() {
            return None;
        }
        found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (start, end, index) in found {
            if start < at {
                continue;
            }
            out.push_str(&text[at..start]);
            out.push_str("[REDACTED:");
            out.push_str(self.patterns[index].label);
            out.push(']');
            counts[index] += 1;
            at = end;
        }
        out.push_str(&text[at..]);
        Some(out)
    }
}

/// HMAC-SHA256 of `value` under `key`, lowercase hex: stable across requests and replicas (the
/// same user still groups), not reversible without the key, and not a plain hash that a
/// dictionary of e-mail addresses would undo.
pub fn hash(key: &[u8], value: &str) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(value.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// The first `max_chars` characters and the marker, or `None` when the text is not longer.
/// Counts characters, not bytes, so a cut never splits one.
pub fn truncate(text: &str, max_chars: usize) -> Option<String> {
    let (cut, _) = text.char_indices().nth(max_chars)?;
    let mut out = String::with_capacity(cut + TRUNCATED_MARKER.len());
    out.push_str(&text[..cut]);
    out.push_str(TRUNCATED_MARKER);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redactor(names: &[&str]) -> Redactor {
        Redactor::new(
            names
                .iter()
                .map(|name| Pattern::compile(name).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn redact(names: &[&str], text: &str) -> Option<String> {
        let redactor = redactor(names);
        let mut counts = vec![0; names.len()];
        redactor.redact(text, &mut counts)
    }

    #[test]
    fn text_keeps_what_is_around_the_matches() {
        assert_eq!(
            redact(
                &["email", "card_number"],
                "Mail jane@example.com, card 4111 1111 1111 1111 (not 4111 1111 1111 1112)."
            )
            .unwrap(),
            "Mail [REDACTED:email], card [REDACTED:card_number] (not 4111 1111 1111 1112)."
        );
        assert_eq!(redact(&["email"], "nothing here"), None);
        assert_eq!(redact(&["card_number"], "order 4111 1111 1111 1112"), None);
    }

    #[test]
    fn json_text_keeps_its_structure() {
        let text = r#"[{"role":"user","parts":[{"type":"text","content":"I am bob@corp.io, ip 10.1.2.3"}]},{"n":4}]"#;
        assert_eq!(
            redact(&["email", "ipv4"], text).unwrap(),
            r#"[{"role":"user","parts":[{"type":"text","content":"I am [REDACTED:email], ip [REDACTED:ipv4]"}]},{"n":4}]"#
        );
        // An escape that hides the match from the raw text is still found.
        assert_eq!(
            redact(&["email"], r#"{"to":"bob\u0040corp.io"}"#).unwrap(),
            r#"{"to":"[REDACTED:email]"}"#
        );
        // Not JSON after all: redacted as text.
        assert_eq!(
            redact(&["email"], "[note] mail bob@corp.io").unwrap(),
            "[note] mail [REDACTED:email]"
        );
    }

    #[test]
    fn overlapping_matches_go_to_the_longest() {
        let mut counts = vec![0; 2];
        let redactor = redactor(&["phone", "card_number"]);
        assert_eq!(
            redactor
                .redact("pay 4111-1111-1111-1111 now", &mut counts)
                .unwrap(),
            "pay [REDACTED:card_number] now"
        );
        assert_eq!(counts, [0, 1]);
    }

    /// Fixed vector computed outside this code base with Python:
    /// `hmac.new(b"spanbridge-test-key", b"user-42", hashlib.sha256).hexdigest()`.
    #[test]
    fn hash_is_keyed_and_stable() {
        assert_eq!(
            hash(b"spanbridge-test-key", "user-42"),
            "4fa45e0886f3822e0517bec18787a5ea582285aad92b6dc2a885840631d27363"
        );
        assert_eq!(hash(b"k", "user-42"), hash(b"k", "user-42"));
        assert_ne!(hash(b"k", "user-42"), hash(b"other", "user-42"));
    }

    #[test]
    fn truncation_cuts_at_character_boundaries() {
        assert_eq!(truncate("héllo wörld", 4).unwrap(), "héll…[TRUNCATED]");
        assert_eq!(
            truncate("日本語のテキスト", 3).unwrap(),
            "日本語…[TRUNCATED]"
        );
        assert_eq!(truncate("short", 5), None);
        assert_eq!(truncate("🙂🙂", 1).unwrap(), "🙂…[TRUNCATED]");
    }
}
