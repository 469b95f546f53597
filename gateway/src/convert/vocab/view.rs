//! One borrowed view per span, built once: every rule reads attributes through these indexes
//! and never re-scans an attribute list (STYLE.md §2).

use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value};

use super::section::{self, Section};
use super::value;

/// An attribute list indexed by key. The last duplicate key wins, as in Langfuse's reduce.
/// Hashed for the hundreds of exact lookups the rule lists make per span (most of them
/// misses), and sorted so a prefix (`gen_ai.usage.`, `llm.input_messages.`) is one binary
/// search plus a scan.
///
/// Attribute names are namespaced (`langfuse.`, `gen_ai.`, `llm.`, `ai.`, …) and a span uses a
/// few namespaces while the rules ask about all of them, so the set of first bytes of the keys
/// answers most lookups of other namespaces without hashing or comparing (what this bought:
/// docs/performance.md, "Conversion, pricing, privacy").
#[derive(Debug, Default)]
pub struct Attrs<'a> {
    exact: FxHashMap<&'a str, &'a AnyValue>,
    by_key: Vec<(&'a str, &'a AnyValue)>,
    first_bytes: u128,
}

/// A key's bit in [`Attrs::first_bytes`] (non-ASCII first bytes share bits, the empty key
/// shares NUL's; only misses are decided by it, never hits).
fn first_byte_bit(key: &str) -> u128 {
    1u128 << key.as_bytes().first().map_or(0, |b| b & 127)
}

impl<'a> Attrs<'a> {
    pub fn new(list: &'a [KeyValue]) -> Self {
        let mut exact = FxHashMap::with_capacity_and_hasher(list.len(), Default::default());
        for pair in list {
            if let Some(v) = &pair.value {
                exact.insert(pair.key.as_str(), v);
            }
        }
        let mut by_key: Vec<_> = exact.iter().map(|(k, v)| (*k, *v)).collect();
        by_key.sort_unstable_by_key(|(k, _)| *k);
        let first_bytes = by_key.iter().fold(0, |set, (k, _)| set | first_byte_bit(k));
        Attrs {
            exact,
            by_key,
            first_bytes,
        }
    }

    /// Whether some key may start like `key` (false: certainly none does).
    fn may_hold(&self, key: &str) -> bool {
        self.first_bytes & first_byte_bit(key) != 0
    }

    fn lookup(&self, key: &str) -> Option<&'a AnyValue> {
        if !self.may_hold(key) {
            return None;
        }
        self.exact.get(key).copied()
    }

    /// The decoded value, or `None` when the key is missing.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.lookup(key).map(value::to_json)
    }

    /// The decoded value when present in the sense of [`value::is_present`].
    pub fn present(&self, key: &str) -> Option<Value> {
        self.get(key).filter(value::is_present)
    }

    /// The value as text when it is a non-empty string attribute; other types are `None`.
    pub fn str(&self, key: &str) -> Option<&'a str> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
        match self.lookup(key).and_then(|v| v.value.as_ref()) {
            Some(V::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
            _ => None,
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    /// Every `(rest, value)` whose key is `prefix` + `rest`, in key order. `prefix` should end
    /// with the separator (`"gen_ai.usage."`).
    pub fn with_prefix<'s>(
        &'s self,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'a str, &'a AnyValue)> + 's {
        let first = if self.may_hold(prefix) {
            self.by_key.partition_point(|(k, _)| *k < prefix)
        } else {
            self.by_key.len()
        };
        self.by_key[first..]
            .iter()
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(move |(k, v)| (&k[prefix.len()..], *v))
    }

    /// All attributes as one JSON object, values decoded (`metadata.resourceAttributes`,
    /// GenAI message events).
    pub fn to_object(&self) -> serde_json::Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), value::to_json(v)))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a AnyValue)> + '_ {
        self.by_key.iter().map(|(k, v)| (*k, *v))
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// What all spans of one resource, or of one instrumentation scope, share: the attribute
/// index and the flattened metadata section, built once.
#[derive(Debug)]
pub struct Shared<'a> {
    pub scope: Option<&'a InstrumentationScope>,
    pub attrs: Attrs<'a>,
    pub metadata: Section,
}

impl<'a> Shared<'a> {
    /// A resource's index and its `metadata.resourceAttributes` (values decoded).
    pub fn resource(list: &'a [KeyValue]) -> Self {
        let attrs = Attrs::new(list);
        let metadata = Section::of(section::RESOURCE, Value::Object(attrs.to_object()));
        Shared {
            scope: None,
            attrs,
            metadata,
        }
    }

    /// A scope's index and its `metadata.scope`: name, version and attributes.
    pub fn scope(scope: Option<&'a InstrumentationScope>) -> Self {
        let attrs = Attrs::new(scope.map(|s| s.attributes.as_slice()).unwrap_or(&[]));
        let metadata = scope
            .map(|s| {
                let mut object = Map::new();
                object.insert("name".into(), Value::String(s.name.clone()));
                object.insert("version".into(), Value::String(s.version.clone()));
                if !attrs.is_empty() {
                    object.insert("attributes".into(), Value::Object(attrs.to_object()));
                }
                Section::of(section::SCOPE, Value::Object(object))
            })
            .unwrap_or_default();
        Shared {
            scope,
            attrs,
            metadata,
        }
    }
}

/// One span event with its attributes indexed (GenAI content events, `exception`).
#[derive(Debug)]
pub struct EventView<'a> {
    pub name: &'a str,
    pub time_unix_nano: u64,
    pub attrs: Attrs<'a>,
}

/// Everything a rule may read about one span. The resource and scope indexes are built once
/// per resource / scope and shared by all of its spans.
#[derive(Debug)]
pub struct SpanView<'a> {
    pub resource: &'a Attrs<'a>,
    pub scope: Option<&'a InstrumentationScope>,
    /// `metadata.resourceAttributes` and `metadata.scope`, flattened once.
    pub resource_metadata: &'a Section,
    pub scope_metadata: Option<&'a Section>,
    pub span: &'a Span,
    pub attrs: Attrs<'a>,
    pub events: Vec<EventView<'a>>,
}

impl<'a> SpanView<'a> {
    pub fn new(resource: &'a Shared<'a>, scope: &'a Shared<'a>, span: &'a Span) -> Self {
        SpanView {
            resource: &resource.attrs,
            scope: scope.scope,
            resource_metadata: &resource.metadata,
            scope_metadata: scope.scope.map(|_| &scope.metadata),
            span,
            attrs: Attrs::new(&span.attributes),
            events: span
                .events
                .iter()
                .map(|e| EventView {
                    name: e.name.as_str(),
                    time_unix_nano: e.time_unix_nano,
                    attrs: Attrs::new(&e.attributes),
                })
                .collect(),
        }
    }

    /// Instrumentation scope name, `""` when absent. Several conventions are gated on it
    /// (`ai`, `genkit-tracer`, `pydantic-ai`), as Langfuse gates them.
    pub fn scope_name(&self) -> &'a str {
        self.scope.map(|s| s.name.as_str()).unwrap_or("")
    }

    pub fn scope_version(&self) -> &'a str {
        self.scope.map(|s| s.version.as_str()).unwrap_or("")
    }

    /// Span attribute first, then resource attribute (Langfuse's environment lookup).
    pub fn attr_or_resource(&self, key: &str) -> Option<Value> {
        self.attrs
            .present(key)
            .or_else(|| self.resource.present(key))
    }
}
