//! The kinds of rule the tables other than the scalar fields are written in (the scalar
//! fields use [`super::source::Source`]): each table is an ordered list of these, the first
//! rule that yields a value wins.

use serde_json::{Map, Value};

use super::content::Io;
use super::value;
use super::view::SpanView;

/// One input/output source (reference §3.9).
pub enum IoRule {
    /// A pair of span attributes read together.
    Pair(&'static str, &'static str),
    /// A convention's own extraction; `Some` ends the search (even with both sides empty, for
    /// the scope-gated rules that Langfuse lets "always return").
    Derived(fn(&SpanView) -> Option<Io>),
}

impl IoRule {
    /// What this rule finds on a span; `None` lets the next rule try.
    pub fn read(&self, view: &SpanView) -> Option<Io> {
        match self {
            IoRule::Pair(input, output) => {
                let io = Io {
                    input: view.attrs.present(input),
                    output: view.attrs.present(output),
                };
                (io.input.is_some() || io.output.is_some()).then_some(io)
            }
            IoRule::Derived(f) => f(view),
        }
    }
}

/// One observation type mapper (reference §3.4).
pub enum TypeRule {
    /// An attribute's string value looked up in a table (exact match).
    Lookup(&'static str, &'static [(&'static str, &'static str)]),
    /// Anything more than a lookup.
    Derived(fn(&SpanView) -> Option<&'static str>),
}

impl TypeRule {
    /// The type this mapper assigns; `None` lets the next mapper try.
    pub fn read(&self, view: &SpanView) -> Option<&'static str> {
        match self {
            TypeRule::Lookup(key, table) => {
                let found = view.attrs.str(key)?;
                table.iter().find(|(k, _)| *k == found).map(|(_, t)| *t)
            }
            TypeRule::Derived(f) => f(view),
        }
    }
}

/// One source of a model parameter object (reference §3.10).
pub enum ParamSource {
    /// A JSON object (or JSON text of one) in one attribute.
    Blob(&'static str),
    /// Every attribute under a prefix, prefix stripped, except the listed keys.
    Prefixed(&'static [&'static str], &'static [&'static str]),
    /// Anything more than a lookup.
    Derived(fn(&SpanView) -> Option<Map<String, Value>>),
}

impl ParamSource {
    /// The parameter object of this source; `None` when it has none.
    pub fn read(&self, view: &SpanView) -> Option<Map<String, Value>> {
        match self {
            ParamSource::Blob(key) => view.attrs.get(key).and_then(|v| value::as_object(&v)),
            ParamSource::Prefixed(prefixes, except) => {
                let mut out = Map::new();
                for prefix in *prefixes {
                    for (k, v) in view.attrs.with_prefix(prefix) {
                        if !except.contains(&k) && !out.contains_key(k) {
                            out.insert(k.to_owned(), value::to_json(v));
                        }
                    }
                }
                Some(out)
            }
            ParamSource::Derived(f) => f(view),
        }
    }
}
