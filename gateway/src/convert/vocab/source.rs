//! The vocabulary of the rule tables: where a value may come from. A field is an ordered
//! `&[Source]`; the first source that yields a present value wins (reference §3,
//! genai-semconv §7: "empty string, empty array and `{}` count as absent").

use serde_json::Value;

use super::value;
use super::view::SpanView;

/// One place a field's value may come from.
#[derive(Clone, Copy)]
pub enum Source {
    /// A span attribute.
    Attr(&'static str),
    /// A resource attribute.
    Resource(&'static str),
    /// A span attribute, else the same key on the resource (Langfuse's environment lookup).
    AttrOrResource(&'static str),
    /// Anything more than a lookup: a small function in the convention's module.
    Derived(fn(&SpanView) -> Option<Value>),
}

pub use Source::{Attr, AttrOrResource, Derived, Resource};

impl Source {
    fn read(&self, view: &SpanView) -> Option<Value> {
        match self {
            Attr(key) => view.attrs.present(key),
            Resource(key) => view.resource.present(key),
            AttrOrResource(key) => view.attr_or_resource(key),
            Derived(f) => f(view).filter(value::is_present),
        }
    }
}

/// The first present value of an ordered source list.
pub fn first(view: &SpanView, sources: &[Source]) -> Option<Value> {
    sources.iter().find_map(|s| s.read(view))
}

/// The first present value as text (strings verbatim, other values as JSON text).
pub fn first_text(view: &SpanView, sources: &[Source]) -> Option<String> {
    first(view, sources).map(value::into_text)
}
