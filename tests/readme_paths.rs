//! Every repository path README.md names exists, so the README (and the docs) cannot keep
//! naming files that were renamed or removed. Checked: each entry of README's "Layout" sketch
//! (an entry starts with its directory in the first column; every file or folder it names is
//! relative to that directory, `{a,b}` meaning both), and everywhere else in README.md and
//! docs/*.md every path under one of the repository's top-level directories, in backticks, in
//! a link or bare. A missing path fails the test with the file and line that name it.

use std::path::Path;

/// The repository's top-level directories: outside the layout sketch, a path is a name under
/// one of these (so URL paths, `~/.cache/…` and `../shared/…` are not taken for repository
/// paths).
const TOP_LEVEL: &[&str] = &[
    ".ci", "config", "deploy", "docs", "gateway", "proto", "sink", "src", "tests", "workload",
];

/// What a file name in the layout sketch ends with; any other word there is prose.
const EXTENSIONS: &[&str] = &[
    "rs", "toml", "sh", "py", "mjs", "md", "yml", "yaml", "json", "sql", "proto", "lock",
];

/// File names without an extension that the layout sketch may name.
const EXTENSIONLESS: &[&str] = &["Dockerfile"];

/// The paths a text names that do not exist under `root`, each as "FILE:LINE: path (why)",
/// and how many paths were checked (so a test can tell an empty check from a passing one).
struct Check {
    checked: usize,
    layout_entries: usize,
    missing: Vec<String>,
}

/// Splits a line into path-like words: letters, digits and `_ . - / ~`, plus `{…}` groups
/// (whose commas belong to the word). Anything else ends a word; trailing dots are dropped.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut depth = 0usize;
    for c in line.chars() {
        let path_char = c.is_ascii_alphanumeric() || "_.-/~".contains(c);
        match c {
            '{' => {
                depth += 1;
                word.push(c);
            }
            '}' if depth > 0 => {
                depth -= 1;
                word.push(c);
            }
            ',' if depth > 0 => word.push(c),
            _ if path_char => word.push(c),
            _ => {
                if depth > 0 {
                    // An unclosed group is not a path; drop what was gathered.
                    depth = 0;
                    word.clear();
                }
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
        }
    }
    if depth == 0 && !word.is_empty() {
        words.push(word);
    }
    words
        .into_iter()
        .map(|w| w.trim_end_matches('.').to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

/// `a/{b,c}.rs` → `a/b.rs`, `a/c.rs` (groups may repeat; no nesting).
fn expand(word: &str) -> Vec<String> {
    let Some(open) = word.find('{') else {
        return vec![word.to_owned()];
    };
    let Some(close) = word[open..].find('}').map(|i| open + i) else {
        return vec![word.to_owned()];
    };
    let (head, group, tail) = (&word[..open], &word[open + 1..close], &word[close + 1..]);
    group
        .split(',')
        .flat_map(|choice| expand(&format!("{head}{choice}{tail}")))
        .collect()
}

/// Whether a word of the layout sketch names a file or folder.
fn names_a_path(word: &str) -> bool {
    if word.starts_with('/') || word.starts_with('~') || word == "/" {
        return false;
    }
    if word.ends_with('/') {
        return true;
    }
    let name = word.rsplit('/').next().unwrap_or(word);
    EXTENSIONLESS.contains(&name)
        || name
            .rsplit_once('.')
            .is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext))
}

/// Whether a word outside the layout sketch is a path under a top-level directory.
fn under_top_level(word: &str) -> bool {
    word.split_once('/')
        .is_some_and(|(first, _)| TOP_LEVEL.contains(&first))
}

fn exists(root: &Path, path: &str) -> bool {
    let full = root.join(path.trim_end_matches('/'));
    if path.ends_with('/') {
        full.is_dir()
    } else {
        full.exists()
    }
}

/// Checks one Markdown text. With `layout`, the fenced block after the "## Layout" heading is
/// read as the layout sketch; every other line (and every line without `layout`) is checked
/// for paths under the top-level directories.
fn check(text: &str, file: &str, root: &Path, layout: bool) -> Check {
    let mut result = Check {
        checked: 0,
        layout_entries: 0,
        missing: Vec::new(),
    };
    let mut in_layout_section = false;
    let mut in_sketch = false;
    let mut base: Option<String> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if layout && line.starts_with("## ") {
            in_layout_section = line.trim() == "## Layout";
        }
        if layout && in_layout_section && line.starts_with("```") {
            in_sketch = !in_sketch;
            base = None;
            continue;
        }
        if in_sketch {
            let mut line_words = words(line).into_iter();
            if !line.starts_with(char::is_whitespace) {
                let Some(entry) = line_words.next() else {
                    continue;
                };
                result.layout_entries += 1;
                result.checked += 1;
                if !entry.ends_with('/') || !exists(root, &entry) {
                    result.missing.push(format!(
                        "{file}:{number}: layout entry `{entry}` is not a directory of the repository"
                    ));
                }
                base = Some(entry);
            }
            let Some(base) = base.as_deref() else {
                continue;
            };
            for word in line_words.filter(|w| names_a_path(w)) {
                for path in expand(&word) {
                    result.checked += 1;
                    let full = format!("{base}{path}");
                    if !exists(root, &full) {
                        result.missing.push(format!(
                            "{file}:{number}: `{full}` (`{word}` in the layout entry `{base}`) does not exist"
                        ));
                    }
                }
            }
            continue;
        }
        for word in words(line).into_iter().filter(|w| under_top_level(w)) {
            for path in expand(&word) {
                result.checked += 1;
                if !exists(root, &path) {
                    result
                        .missing
                        .push(format!("{file}:{number}: `{path}` does not exist"));
                }
            }
        }
    }
    result
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_path_the_readme_names_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let result = check(&readme, "README.md", root(), true);
    assert!(
        result.layout_entries >= 10,
        "README.md's \"## Layout\" section lost its sketch (found {} entries): the check would be empty",
        result.layout_entries
    );
    assert!(
        result.missing.is_empty(),
        "README.md names paths that do not exist (fix the README or the tree):\n{}",
        result.missing.join("\n")
    );
}

#[test]
fn every_path_the_docs_name_exists() {
    let mut missing = Vec::new();
    let mut checked = 0;
    for entry in std::fs::read_dir(root().join("docs")).expect("docs/") {
        let path = entry.expect("docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).expect("doc");
            let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
            let result = check(&text, &name, root(), false);
            checked += result.checked;
            missing.extend(result.missing);
        }
    }
    assert!(
        checked > 0,
        "no paths found in docs/*.md: the check would be empty"
    );
    assert!(
        missing.is_empty(),
        "docs name paths that do not exist (fix the doc or the tree):\n{}",
        missing.join("\n")
    );
}

/// The checker itself: a bogus path in the sketch, in backticks and in a `{…}` group is
/// reported with its line; existing ones, URL paths and paths outside the repository are not.
#[test]
fn a_path_that_does_not_exist_is_reported() {
    let text = "\
Run `bash deploy/dev/test.sh`; see [the docs](docs/production.md), `docs/nowhere.md`,
`/api/public/ingestion`, `~/.cache/spanbridge-clients` and `../shared/reference/x.md`.

## Layout

```
src/               main.rs, wiring/{embedded,scaled}.rs, bench/ (load generators)
                   wiring/kafka.rs, gone.rs
nowhere/           a.rs
```

## After
gateway/src/receive/{http,legacy}.rs
";
    let result = check(text, "README.md", root(), true);
    assert_eq!(
        result.missing,
        [
            "README.md:1: `docs/nowhere.md` does not exist",
            "README.md:7: `src/wiring/scaled.rs` (`wiring/{embedded,scaled}.rs` in the layout \
             entry `src/`) does not exist",
            "README.md:8: `src/gone.rs` (`gone.rs` in the layout entry `src/`) does not exist",
            "README.md:9: layout entry `nowhere/` is not a directory of the repository",
            "README.md:9: `nowhere/a.rs` (`a.rs` in the layout entry `nowhere/`) does not exist",
            "README.md:13: `gateway/src/receive/legacy.rs` does not exist",
        ]
    );
    assert_eq!(result.layout_entries, 2);
}

#[test]
fn words_and_groups() {
    assert_eq!(
        words("(events; store/{sqlite,clickhouse}.rs, db.rs), meta/."),
        ["events", "store/{sqlite,clickhouse}.rs", "db.rs", "meta/"]
    );
    assert_eq!(
        expand("tests/{golden,golden_logs}.rs"),
        ["tests/golden.rs", "tests/golden_logs.rs"]
    );
    assert!(names_a_path("Dockerfile") && names_a_path("k8s/") && names_a_path("mod.rs"));
    assert!(
        !names_a_path("spanbridge.v1")
            && !names_a_path("EventRow/EventBatch")
            && !names_a_path("/")
    );
}
