//! Rebuilds flattened attributes (`gen_ai.prompt.0.content`,
//! `llm.input_messages.0.message.tool_calls.1.tool_call.function.name`,
//! `retrieval.documents.2.document.score`) into nested JSON: numeric segments are array
//! indices. As in Langfuse, indices above 10,000 are dropped (a hostile index must not allocate
//! a huge array) and the valid entries are kept.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::AnyValue;
use serde_json::{Map, Value};

use super::value;

/// The largest array index kept (Langfuse caps array slots at 10,001).
const MAX_INDEX: usize = 10_000;

enum Node {
    Leaf(Value),
    Branch(BTreeMap<String, Node>),
}

/// Rebuilds `(path, value)` pairs (paths relative to the common prefix). `None` when nothing
/// usable was found.
pub fn rebuild<'a>(pairs: impl Iterator<Item = (&'a str, &'a AnyValue)>) -> Option<Value> {
    let mut root = BTreeMap::new();
    let mut any = false;
    for (path, raw) in pairs {
        let segments: Vec<&str> = path.split('.').collect();
        let too_large = segments
            .iter()
            .any(|s| s.parse::<usize>().is_ok_and(|i| i > MAX_INDEX));
        if path.is_empty() || too_large || segments.iter().any(|s| s.is_empty()) {
            continue;
        }
        insert(&mut root, &segments, value::to_json(raw));
        any = true;
    }
    any.then(|| to_value(Node::Branch(root)))
}

fn insert(tree: &mut BTreeMap<String, Node>, segments: &[&str], leaf: Value) {
    let Some((head, rest)) = segments.split_first() else { return };
    if rest.is_empty() {
        tree.insert((*head).to_owned(), Node::Leaf(leaf));
        return;
    }
    let entry = tree
        .entry((*head).to_owned())
        .or_insert_with(|| Node::Branch(BTreeMap::new()));
    if let Node::Leaf(_) = entry {
        *entry = Node::Branch(BTreeMap::new());
    }
    if let Node::Branch(children) = entry {
        insert(children, rest, leaf);
    }
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(v) => v,
        Node::Branch(children) => {
            let all_indices = !children.is_empty() && children.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indices {
                let mut indexed: Vec<(usize, Value)> = children
                    .into_iter()
                    .filter_map(|(k, n)| k.parse::<usize>().ok().map(|i| (i, to_value(n))))
                    .collect();
                indexed.sort_by_key(|(i, _)| *i);
                let len = indexed.last().map(|(i, _)| i + 1).unwrap_or(0);
                let mut list = vec![Value::Null; len];
                for (i, v) in indexed {
                    list[i] = v;
                }
                Value::Array(list)
            } else {
                let object: Map<String, Value> = children.into_iter().map(|(k, n)| (k, to_value(n))).collect();
                Value::Object(object)
            }
        }
    }
}
