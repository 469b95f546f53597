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

/// What a text must contain for a pattern to possibly match: checked with `memchr`, a literal
/// search or one scan of the digits before any regex runs, so prose without an `@`, digit runs
/// or key prefixes (most of it) costs a few fast scans instead of a regex pass. Each is a
/// necessary condition of its expression, so a text it rules out cannot match.
#[derive(Debug, Clone)]
pub enum Need {
    Anything,
    Byte(u8),
    Literal(Box<memchr::memmem::Finder<'static>>),
    /// A run of at least this many digits (see [`digit_runs`]): a card number has 13, a
    /// phone number 8, an IPv4 address 4. Prose with a few numbers ("under 200 words", "2 of
    /// 3") has runs of one to four and is ruled out for cards and phones. The expression then
    /// runs only on the runs long enough, not on the whole text.
    DigitRun(usize),
    /// Any of a few literals: one regex of pure literals, which the regex crate searches with
    /// its SIMD multi-literal matcher in a single pass.
    OneOf(Regex),
}

/// What the digit patterns need to know about one text, computed once for all of them.
#[derive(Debug, Default)]
pub struct Clues {
    digit_runs: Option<Vec<DigitRun>>,
}

impl Clues {
    fn digit_runs(&mut self, text: &str) -> &[DigitRun] {
        self.digit_runs
            .get_or_insert_with(|| digit_runs(text.as_bytes()))
    }
}

impl Need {
    fn one_of(literals: &[&str]) -> Self {
        let alternation: Vec<String> = literals.iter().map(|l| regex::escape(l)).collect();
        match Regex::new(&alternation.join("|")) {
            Ok(regex) => Need::OneOf(regex),
            Err(_) => Need::Anything,
        }
    }

    /// Whether `text` may hold a match; `clues` carries what one check learnt to the next
    /// pattern's (fresh for every text).
    pub fn met(&self, text: &str, clues: &mut Clues) -> bool {
        match self {
            Need::Anything => true,
            Need::Byte(byte) => memchr::memchr(*byte, text.as_bytes()).is_some(),
            Need::Literal(finder) => finder.find(text.as_bytes()).is_some(),
            Need::DigitRun(at_least) => clues
                .digit_runs(text)
                .iter()
                .any(|run| run.digits >= *at_least),
            Need::OneOf(literals) => literals.is_match(text),
        }
    }
}

/// Bytes that may join the digits of one card number, phone number or address: every
/// separator the digit expressions allow (`[ -]`, `[ .-]`, `\.`, `\(`, `\)`).
fn joins_digits(byte: u8) -> bool {
    matches!(byte, b' ' | b'.' | b'-' | b'(' | b')')
}

/// Digits joined by at most two joining bytes ([`joins_digits`]) between neighbours:
/// `+1 (415) 555-0100` is one run of 11, `4111 1111 1111 1111` one of 16, `under 200 words`
/// one of 3. Every match of a digit expression lies inside one run (after at most one `+` or
/// `(`), so a run shorter than the expression's digit count cannot hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitRun {
    /// Byte offset of the first digit.
    pub start: usize,
    /// Byte offset just past the last digit.
    pub end: usize,
    pub digits: usize,
}

/// The fewest digits any digit expression needs (an IPv4 address): shorter runs are not kept.
const SHORTEST_RUN: usize = 4;

/// The digit runs of `bytes` with at least [`SHORTEST_RUN`] digits, in order. Reads 32-byte
/// blocks as a bit mask of digit positions, so the cost is per digit, not per byte, and
/// skips blocks without a digit with one vectorised count; allocates only when a run is long
/// enough.
pub fn digit_runs(bytes: &[u8]) -> Vec<DigitRun> {
    let mut runs = Vec::new();
    let mut current: Option<DigitRun> = None;
    for (block_index, block) in bytes.chunks(32).enumerate() {
        // Counting vectorises where the mask below does not; most blocks have no digit.
        let digits = block
            .iter()
            .fold(0u8, |count, byte| count + u8::from(byte.is_ascii_digit()));
        if digits == 0 {
            continue;
        }
        let mut mask = block.iter().enumerate().fold(0u32, |mask, (i, byte)| {
            mask | (u32::from(byte.is_ascii_digit()) << i)
        });
        while mask != 0 {
            let at = block_index * 32 + mask.trailing_zeros() as usize;
            mask &= mask - 1;
            match current.as_mut() {
                Some(run)
                    if at - run.end <= 2 && bytes[run.end..at].iter().all(|&b| joins_digits(b)) =>
                {
                    run.end = at + 1;
                    run.digits += 1;
                }
                _ => {
                    if let Some(run) = current.filter(|run| run.digits >= SHORTEST_RUN) {
                        runs.push(run);
                    }
                    current = Some(DigitRun {
                        start: at,
                        end: at + 1,
                        digits: 1,
                    });
                }
            }
        }
    }
    if let Some(run) = current.filter(|run| run.digits >= SHORTEST_RUN) {
        runs.push(run);
    }
    runs
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
            "card_number" => Need::DigitRun(13),
            "ipv4" => Need::DigitRun(4),
            "phone" => Need::DigitRun(8),
            "api_key" => Need::one_of(API_KEY_PREFIXES),
            "jwt" => Need::Literal(Box::new(memchr::memmem::Finder::new("eyJ"))),
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

    /// Every accepted match in `text`, as byte ranges, in order. A digit expression is
    /// searched only in the runs that can hold it: from the run's start (or the `+` or `(`
    /// before it) to the character after it, so word boundaries read as in the whole text
    /// (a search from inside a text sees what precedes it).
    pub fn find_all(&self, text: &str, clues: &mut Clues, mut found: impl FnMut(usize, usize)) {
        let mut accept = |m: regex::Match<'_>| {
            if m.is_empty() {
                return;
            }
            if self.accepts(text, m.start(), m.end()) {
                found(m.start(), m.end());
            } else if let (Check::Luhn, Some((start, end))) =
                (&self.check, card_within(text, m.start(), m.end()))
            {
                found(start, end);
            }
        };
        let Need::DigitRun(at_least) = self.need else {
            self.regex.find_iter(text).for_each(accept);
            return;
        };
        let bytes = text.as_bytes();
        for run in clues
            .digit_runs(text)
            .iter()
            .filter(|r| r.digits >= at_least)
        {
            let start = match run.start.checked_sub(1) {
                Some(before) if matches!(bytes[before], b'+' | b'(') => before,
                _ => run.start,
            };
            let end = (run.end + 1..=text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(text.len());
            let window = &text[..end];
            let mut at = start;
            while let Some(m) = self.regex.find_at(window, at) {
                if m.is_empty() {
                    break;
                }
                at = m.end();
                accept(m);
            }
        }
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

/// A card number inside a longer run of digit groups that fails the checksum as a whole
/// ("qty 2 4111 1111 1111 1111", "2026-11-27 4111111111111111"): the longest span of whole
/// groups of `text[start..end]` that passes it. A run without separators is not cut: any cut
/// of a long id would pass now and then.
fn card_within(text: &str, start: usize, end: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
    let starts = (start..end).filter(|&i| digit(i) && (i == start || !digit(i - 1)));
    let ends: Vec<usize> = (start + 1..=end)
        .filter(|&i| digit(i - 1) && (i == end || !digit(i)))
        .collect();
    starts
        .flat_map(|from| ends.iter().map(move |&to| (from, to)))
        .filter(|&(from, to)| to > from && (from, to) != (start, end))
        .filter(|&(from, to)| luhn_valid(&text[from..to]))
        .max_by_key(|&(from, to)| (to - from, std::cmp::Reverse(from)))
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
        // Joined to a number before it: the card is still found, the number kept.
        let found = |text: &str| {
            let pattern = Pattern::compile("card_number").unwrap();
            let mut spans = Vec::new();
            pattern.find_all(text, &mut Clues::default(), |start, end| {
                spans.push(text[start..end].to_owned())
            });
            spans
        };
        assert_eq!(
            found("qty 2 4111 1111 1111 1111 please"),
            ["4111 1111 1111 1111"]
        );
        assert_eq!(
            found("on 2026-11-27 4111111111111111"),
            ["4111111111111111"]
        );
        assert!(found("order 24111111111111111 shipped").is_empty());
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

    fn longest_digit_run(bytes: &[u8]) -> usize {
        digit_runs(bytes)
            .iter()
            .map(|run| run.digits)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn digit_runs_join_what_the_expressions_allow() {
        // Runs under four digits are not listed.
        assert_eq!(longest_digit_run(b"Keep it under 200 words. "), 0);
        assert_eq!(longest_digit_run(b"call +1 (415) 555-0100 now"), 11);
        assert_eq!(longest_digit_run(b"visa 4111 1111 1111 1111"), 16);
        assert_eq!(longest_digit_run(b"from 192.168.1.20"), 9);
        // Two numbers one or two joining bytes apart are one run; three apart, or any other
        // byte between them, are two.
        assert_eq!(longest_digit_run(b"12. 4111"), 6);
        assert_eq!(longest_digit_run(b"12 - 4111"), 4);
        assert_eq!(longest_digit_run(b"12,345 and 6789"), 4);
        assert_eq!(longest_digit_run(b""), 0);
        assert_eq!(
            digit_runs(b"ip 10.1.2.3, card 4111 1111 1111 1111."),
            [
                DigitRun {
                    start: 3,
                    end: 11,
                    digits: 5
                },
                DigitRun {
                    start: 18,
                    end: 37,
                    digits: 16
                }
            ]
        );
        // Across the 32-byte blocks, and a digit-free block ends a run.
        let letters = "x".repeat(30);
        let across = format!("{letters}4111 1111 1111 1111");
        assert_eq!(longest_digit_run(across.as_bytes()), 16);
        let apart = format!("{}1234{}5678", "x".repeat(31), " ".repeat(64));
        assert_eq!(longest_digit_run(apart.as_bytes()), 4);
        let blocks = format!("{}{}", "9".repeat(40), "y".repeat(40));
        assert_eq!(longest_digit_run(blocks.as_bytes()), 40);
    }

    /// Searching only the runs finds what a search of the whole text finds.
    #[test]
    fn run_searches_find_what_whole_text_searches_find() {
        let texts = [
            "call +1 (415) 555-0100, (415) 555-0100 or +44 20 7946 0958.",
            "visa 4111 1111 1111 1111, amex 3782-822463-10005, mc 5555555555554444.",
            "x4111111111111111 and 4111111111111111y and é4111111111111111é",
            "from 192.168.1.20 and 10.0.0.255, not 999.1.1.1 or 1.2.3.256",
            "on 2026-11-27 at 10:30, 4155550100; host 192.168.100.200",
            "ref 12. 4111 1111 1111 1111 and (41)555 010 then 415-555-0100",
        ];
        for name in ["card_number", "ipv4", "phone"] {
            let pattern = Pattern::compile(name).unwrap();
            for text in texts {
                let mut found = Vec::new();
                pattern.find_all(text, &mut Clues::default(), |start, end| {
                    found.push(text[start..end].to_owned())
                });
                assert_eq!(found, matches(name, text), "{name}: {text}");
            }
        }
    }

    /// Every prefilter is a necessary condition: it passes on every text its expression
    /// matches, including the shortest shapes.
    #[test]
    fn prefilters_never_rule_out_a_match() {
        let cases = [
            ("email", "a@b.co"),
            ("card_number", "4111111111111111"),
            ("card_number", "ref 12. 4111 1111 1111 1111"),
            ("card_number", "3782-822463-10005"),
            ("ipv4", "1.2.3.4"),
            ("phone", "41 555 010"),
            ("phone", "+1 (415) 555-0100"),
            ("phone", "(41)555 010"),
            ("api_key", "AKIAIOSFODNN7EXAMPLE"),
            (
                "jwt",
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dBjftJeZ4CVPmB92K27uhbUJU1p1r",
            ),
        ];
        for (name, text) in cases {
            assert!(!matches(name, text).is_empty(), "{name}: {text}");
            let pattern = Pattern::compile(name).unwrap();
            assert!(
                pattern.need.met(text, &mut Clues::default()),
                "{name}: {text}"
            );
        }
        for (name, text) in [
            ("card_number", "Keep it under 200 words. ".repeat(9)),
            ("phone", "version 1.2.3 of 2026".to_owned()),
            ("jwt", "Jane and June".to_owned()),
        ] {
            let pattern = Pattern::compile(name).unwrap();
            assert!(!pattern.need.met(&text, &mut Clues::default()), "{name}");
        }
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
