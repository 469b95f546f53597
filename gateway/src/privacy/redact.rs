//! The four actions on one text value: `redact` (pattern matches replaced, inside JSON string
//! values too), `hash` (keyed, stable), `drop` (the caller removes the value), `truncate`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::patterns::{Clues, Pattern};

/// Appended to a truncated value, so a reader knows the text was cut at the door.
pub const TRUNCATED_MARKER: &str = "…[TRUNCATED]";

/// The patterns of one `redact` rule. Each pattern's prefilter ([`super::patterns::Need`])
/// runs before its expression, so text that cannot match (most text) costs a few fast scans,
/// allocates nothing and is left as it is.
#[derive(Debug, Clone)]
pub struct Redactor {
    patterns: Vec<Pattern>,
}

/// Matches per pattern index, counted for the metrics.
pub type Counts = Vec<u64>;

impl Redactor {
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self { patterns }
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// The redacted text, or `None` when nothing matched (the value stays as it is). In JSON
    /// text (an object, array or string) only string values are redacted, each decoded first,
    /// and the rest of the text is kept byte for byte; anything else is redacted as plain text.
    pub fn redact(&self, text: &str, counts: &mut Counts) -> Option<String> {
        let json_like = matches!(
            text.trim_start().as_bytes().first(),
            Some(b'{' | b'[' | b'"')
        );
        if json_like {
            // The prefilters hold on the raw JSON text, except that a `\u` escape can hide
            // any character (`\u0040` is an `@`): such JSON is always decoded.
            if !text.contains("\\u") && !self.may_match(text) {
                return None;
            }
            if let Some(redacted) = self.redact_json(text, counts) {
                return redacted;
            }
        }
        self.redact_plain(text, counts)
    }

    /// Whether any pattern's prefilter passes.
    fn may_match(&self, text: &str) -> bool {
        let mut clues = Clues::default();
        self.patterns
            .iter()
            .any(|pattern| pattern.need.met(text, &mut clues))
    }

    /// `None` when `text` is not JSON; otherwise the text with its redacted string values
    /// spliced in (`Some(None)`: nothing matched). Object keys are structure, kept. Each
    /// value is matched decoded, as a reader sees it: in the raw text an escape would join
    /// the letter of `\n` to a card number that follows it and hide its word boundary.
    fn redact_json(&self, text: &str, counts: &mut Counts) -> Option<Option<String>> {
        // Validates without building a tree; the string scan below relies on valid JSON.
        serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
        let mut out: Option<String> = None;
        let mut copied = 0;
        for literal in json_string_values(text) {
            let raw = &text[literal.start + 1..literal.end - 1];
            let decoded: std::borrow::Cow<'_, str> = if raw.contains('\\') {
                match serde_json::from_str::<String>(&text[literal.clone()]) {
                    Ok(decoded) => decoded.into(),
                    Err(_) => continue,
                }
            } else {
                raw.into()
            };
            let Some(redacted) = self.redact_plain(&decoded, counts) else {
                continue;
            };
            let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
            out.push_str(&text[copied..literal.start]);
            out.push_str(&serde_json::Value::String(redacted).to_string());
            copied = literal.end;
        }
        Some(out.map(|mut out| {
            out.push_str(&text[copied..]);
            out
        }))
    }

    fn redact_plain(&self, text: &str, counts: &mut Counts) -> Option<String> {
        // Every accepted match of every pattern whose prefilter passes; overlaps go to the
        // earliest, then the longest (a card number is not also a phone number).
        let mut clues = Clues::default();
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for (index, pattern) in self.patterns.iter().enumerate() {
            if !pattern.need.met(text, &mut clues) {
                continue;
            }
            pattern.find_all(text, &mut clues, |start, end| {
                found.push((start, end, index))
            });
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

/// The byte ranges (quotes included) of the string values of valid JSON text: every string
/// literal not followed by `:`, which would make it an object key.
fn json_string_values(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let start = at + memchr::memchr(b'"', bytes.get(at..)?)?;
            let mut end = start + 1;
            // Outside strings valid JSON has no quote, so this one opens a literal; it ends
            // at the first quote that no backslash escapes.
            loop {
                end += memchr::memchr2(b'"', b'\\', bytes.get(end..)?)?;
                if bytes[end] == b'"' {
                    end += 1;
                    break;
                }
                end += 2;
            }
            at = end;
            let is_key = bytes[end..]
                .iter()
                .find(|byte| !byte.is_ascii_whitespace())
                .is_some_and(|&byte| byte == b':');
            if !is_key {
                return Some(start..end);
            }
        }
    })
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
    fn json_values_are_matched_decoded_and_the_rest_kept_byte_for_byte() {
        // After a `\n` escape a card number or key is at a word boundary in the decoded value
        // (not in the raw text, where the escape's `n` runs into it).
        let text = r#"{"messages": [ {"content": "card:\n4111 1111 1111 1111\tsk-proj-AbCdEf0123456789AbCd"} ], "n": 4111111111111111}"#;
        assert_eq!(
            redact(&["card_number", "api_key"], text).unwrap(),
            r#"{"messages": [ {"content": "card:\n[REDACTED:card_number]\t[REDACTED:api_key]"} ], "n": 4111111111111111}"#,
            "spacing and numbers kept; only the string value is rewritten"
        );
        // Object keys are structure; an escaped quote does not end a value.
        assert_eq!(
            redact(
                &["email"],
                r#"{"bob@corp.io": "say \"hi\" to bob@corp.io", "k": "\\"}"#
            )
            .unwrap(),
            r#"{"bob@corp.io": "say \"hi\" to [REDACTED:email]", "k": "\\"}"#
        );
        assert_eq!(
            redact(
                &["email"],
                r#"{"note": "write to bob at corp.io", "x": "@"}"#
            ),
            None
        );
        // A card number right after another number is still found.
        assert_eq!(
            redact(&["card_number"], r#"["ref 12. 4111 1111 1111 1111"]"#).unwrap(),
            r#"["ref 12. [REDACTED:card_number]"]"#
        );
        assert_eq!(
            redact(
                &["card_number", "phone"],
                "under 200 words: 4111 1111 1111 1111"
            )
            .unwrap(),
            "under 200 words: [REDACTED:card_number]"
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
