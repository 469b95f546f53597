//! The built-in detectors for `redact` and `regex:<expr>`. Every expression uses ASCII classes
//! and ASCII word boundaries (`(?-u:\b)`): a Unicode `\b` makes the regex crate leave its fast
//! DFA on non-ASCII text, and prompts are often non-ASCII.

use regex::Regex;

/// The names `patterns = [...]` accepts (besides `regex:<expr>`), for error messages.
pub const BUILT_IN: &[&str] = &["email", "card_number", "ipv4", "phone", "api_key", "jwt"];

/// What a candidate match must also satisfy, beyond the expression (the regex crate has no
/// look-around, so these run on the candidate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// Card numbers: 13–19 digits passing the Luhn checksum, so order numbers and timestamps
    /// of the same length stay.
    Luhn,
    /// Phone numbers: not part of a longer digit run (an IP address, a card number, a version),
    /// which the expression alone would cut a phone-shaped piece out of.
    Isolated,
}

/// What a text must contain for a pattern to possibly match: checked with `memchr` and a
/// digit count before any regex runs, so prose without an `@`, digits or key prefixes (most
/// of it) costs a few fast scans instead of a regex pass.
#[derive(Debug, Clone)]
pub enum Need {
    Anything,
    Byte(u8),
    Digits(usize),
    /// Any of a few literals: one regex of pure literals, which the regex crate searches with
    /// its SIMD multi-literal matcher in a single pass.
    OneOf(Regex),
}

impl Need {
    fn one_of(literals: &[&str]) -> Self {
        let alternation: Vec<String> = literals.iter().map(|l| regex::escape(l)).collect();
        match Regex::new(&alternation.join("|")) {
            Ok(regex) => Need::OneOf(regex),
            Err(_) => Need::Anything,
        }
    }

    pub fn met(&self, text: &str, digits: &mut Option<usize>) -> bool {
        match self {
            Need::Anything => true,
            Need::Byte(byte) => memchr::memchr(*byte, text.as_bytes()).is_some(),
            Need::Digits(at_least) => {
                *digits.get_or_insert_with(|| text.bytes().filter(u8::is_ascii_digit).count())
                    >= *at_least
            }
            Need::OneOf(literals) => literals.is_match(text),
        }
    }
}

const API_KEY_PREFIXES: &[&str] = &[
    "sk-", "AKIA", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "xoxb-", "xoxp-", "xoxo-", "xoxa-",
    "xoxs-", "AIza",
];

/// One compiled detector.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// What a match is replaced by: `[REDACTED:<label>]`; also the metric label. `regex` for
    /// custom expressions, so no configured text reaches a replacement or a label.
    pub label: &'static str,
    pub expression: String,
    pub regex: Regex,
    pub check: Check,
    pub need: Need,
}

impl Pattern {
    /// Compiles a built-in name or `regex:<expr>`; the error says what is wrong, the caller
    /// adds the key.
    pub fn compile(name: &str) -> Result<Self, String> {
        let (label, expression, check) = match name {
            "email" => (
                "email",
                r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}".to_owned(),
                Check::None,
            ),
            "card_number" => (
                "card_number",
                r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)".to_owned(),
                Check::Luhn,
            ),
            "ipv4" => {
                let octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
                (
                    "ipv4",
                    format!(r"(?-u:\b){octet}(?:\.{octet}){{3}}(?-u:\b)"),
                    Check::None,
                )
            }
            // International (+CC) or grouped national numbers: 415-555-0100, (415) 555 0100,
            // +44 20 7946 0958. Ungrouped digit runs are not phone numbers here: too many ids
            // look like them.
            "phone" => (
                "phone",
                r"(?:\+[0-9]{1,3}[ .-]?)?(?:\([0-9]{2,4}\)[ .-]?|[0-9]{2,4}[ .-])[0-9]{3,4}[ .-]?[0-9]{3,4}(?-u:\b)"
                    .to_owned(),
                Check::Isolated,
            ),
            // Provider key shapes: OpenAI/Anthropic/Langfuse `sk-…` (`sk-proj-`, `sk-ant-`,
            // `sk-lf-`), AWS access key ids, GitHub tokens, Slack tokens, Google API keys.
            "api_key" => (
                "api_key",
                concat!(
                    r"(?-u:\b)(?:sk-[A-Za-z0-9_-]{16,}",
                    r"|AKIA[0-9A-Z]{16}",
                    r"|gh[pousr]_[A-Za-z0-9]{36,}",
                    r"|xox[bpoas]-[A-Za-z0-9-]{10,}",
                    r"|AIza[0-9A-Za-z_-]{35})"
                )
                .to_owned(),
                Check::None,
            ),
            "jwt" => (
                "jwt",
                r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*".to_owned(),
                Check::None,
            ),
            other => match other.strip_prefix("regex:") {
                Some(expression) if !expression.is_empty() => {
                    ("regex", expression.to_owned(), Check::None)
                }
                Some(_) => return Err("`regex:` needs an expression".into()),
                None => {
                    return Err(format!(
                        "unknown pattern {other:?} (expected one of {}, or regex:<expr>)",
                        BUILT_IN.join(", ")
                    ));
                }
            },
        };
        let regex = Regex::new(&expression)
            .map_err(|error| format!("invalid regex {expression:?}: {error}"))?;
        let need = match label {
            "email" => Need::Byte(b'@'),
            "card_number" => Need::Digits(13),
            "ipv4" => Need::Digits(4),
            "phone" => Need::Digits(7),
            "api_key" => Need::one_of(API_KEY_PREFIXES),
            "jwt" => Need::Byte(b'J'),
            _ => Need::Anything,
        };
        Ok(Self {
            label,
            expression,
            regex,
            check,
            need,
        })
    }

    /// Whether the candidate `text[start..end]` is a real match.
    pub fn accepts(&self, text: &str, start: usize, end: usize) -> bool {
        match self.check {
            Check::None => true,
            Check::Luhn => luhn_valid(&text[start..end]),
            Check::Isolated => isolated(text, start, end),
        }
    }
}

/// Luhn checksum over the digits of `candidate` (separators skipped), 13 to 19 digits.
pub fn luhn_valid(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Neither side continues with a digit, directly or after one separator.
fn isolated(text: &str, start: usize, end: usize) -> bool {
    let bytes = text.as_bytes();
    let byte = |i: Option<usize>| i.and_then(|i| bytes.get(i).copied());
    let before = [byte(start.checked_sub(1)), byte(start.checked_sub(2))];
    let after = [byte(Some(end)), byte(Some(end + 1))];
    !continues(before) && !continues(after)
}

/// `[next, beyond]`, read outward from a match boundary.
fn continues([next, beyond]: [Option<u8>; 2]) -> bool {
    match next {
        Some(b) if b.is_ascii_digit() => true,
        Some(b' ' | b'.' | b'-') => beyond.is_some_and(|b| b.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> Vec<String> {
        let pattern = Pattern::compile(pattern).unwrap();
        pattern
            .regex
            .find_iter(text)
            .filter(|m| pattern.accepts(text, m.start(), m.end()))
            .map(|m| m.as_str().to_owned())
            .collect()
    }

    #[test]
    fn email() {
        assert_eq!(
            matches("email", "write to jane.doe+tag@example.co.uk today"),
            ["jane.doe+tag@example.co.uk"]
        );
        assert!(matches("email", "user@localhost or @handle or a@b").is_empty());
    }

    #[test]
    fn card_numbers_are_luhn_checked() {
        assert_eq!(
            matches(
                "card_number",
                "visa 4111 1111 1111 1111, amex 3782-822463-10005, mc 5555555555554444."
            ),
            [
                "4111 1111 1111 1111",
                "3782-822463-10005",
                "5555555555554444"
            ]
        );
        // Same shapes, wrong checksum; too short; too long.
        assert!(matches("card_number", "order 4111 1111 1111 1112").is_empty());
        assert!(matches("card_number", "id 1234567890123456").is_empty());
        assert!(matches("card_number", "ts 1786003200").is_empty());
        assert!(matches("card_number", "x 41111111111111111111111").is_empty());
    }

    #[test]
    fn ipv4() {
        assert_eq!(
            matches("ipv4", "from 192.168.1.20 and 10.0.0.255"),
            ["192.168.1.20", "10.0.0.255"]
        );
        assert!(matches("ipv4", "999.1.1.1 and 1.2.3 and 1.2.3.256").is_empty());
    }

    #[test]
    fn phone() {
        assert_eq!(
            matches(
                "phone",
                "call +1 415 555 0100, (415) 555-0100 or +44 20 7946 0958."
            ),
            ["+1 415 555 0100", "(415) 555-0100", "+44 20 7946 0958"]
        );
        assert_eq!(matches("phone", "office: 415-555-0100."), ["415-555-0100"]);
        // Parts of longer digit runs are not phone numbers.
        assert!(matches("phone", "host 192.168.100.200").is_empty());
        assert!(matches("phone", "card 4111 1111 1111 1112").is_empty());
        assert!(matches("phone", "on 2026-11-27 at 10:30, 4155550100").is_empty());
    }

    #[test]
    fn api_keys() {
        let keys = [
            "sk-proj-AbCdEf0123456789AbCdEf0123",
            "sk-ant-api03-AbCdEf0123456789_xyz",
            "sk-lf-0b4c5f6e-1234-4d2a-9c1b-aaaaaaaaaaaa",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "xoxb-1234567890-abcdefghij",
            "AIzaSyA-0123456789abcdefghijklmnopqrstu",
        ];
        for key in keys {
            assert_eq!(matches("api_key", &format!("key={key};")), [key], "{key}");
        }
        assert!(matches("api_key", "risk-assessment-of-the-quarter and sk-short").is_empty());
    }

    #[test]
    fn jwt() {
        let token =
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            matches("jwt", &format!("Authorization: Bearer {token}")),
            [token]
        );
        assert!(matches("jwt", "eyJ alone, header.payload").is_empty());
    }

    #[test]
    fn custom_and_bad_patterns() {
        assert_eq!(
            matches("regex:ACME-[0-9]{6}", "ticket ACME-123456 open"),
            ["ACME-123456"]
        );
        assert!(
            Pattern::compile("emial")
                .unwrap_err()
                .contains("unknown pattern")
        );
        assert!(
            Pattern::compile("regex:(")
                .unwrap_err()
                .contains("invalid regex")
        );
        assert!(Pattern::compile("regex:").is_err());
    }
}
