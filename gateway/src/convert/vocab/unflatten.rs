//! Rebuilds flattened attributes (`gen_ai.prompt.0.content`,
//! `llm.input_messages.0.message.tool_calls.1.tool_call.function.name`,
//! `retrieval.documents.2.document.score`) into nested JSON: numeric segments are array
//! indices. As in Langfuse, one rebuild materialises at most 10,001 array slots in total: a
//! hostile index (`gen_ai.prompt.999999999.content`) must not allocate a huge array, and the
//! keys within budget are kept. Likewise a key nested deeper than [`MAX_SEGMENTS`] is skipped:
//! building, printing and dropping the nested value recurse once per segment, and a key of
//! half a million dots would overflow the stack (beyond Langfuse; real keys have under ten).

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::AnyValue;
use serde_json::{Map, Value};

use super::value;

/// Array slots one rebuild may materialise (Langfuse's cap).
const SLOT_BUDGET: usize = 10_001;

/// Segments one key may have below the prefix
/// (`0.message.tool_calls.1.tool_call.function.name` has seven).
const MAX_SEGMENTS: usize = 64;

enum Node {
    Leaf(Value),
    /// Children by segment, and the array length the numeric segments imply.
    Branch(BTreeMap<String, Node>, usize),
}

/// Rebuilds `(path, value)` pairs (paths relative to the common prefix), in key order. `None`
/// when nothing usable was found.
pub fn rebuild<'a>(pairs: impl Iterator<Item = (&'a str, &'a AnyValue)>) -> Option<Value> {
    let mut root = Node::Branch(BTreeMap::new(), 0);
    let mut used = 0usize;
    let mut any = false;
    for (path, raw) in pairs {
        if path.split('.').nth(MAX_SEGMENTS).is_some() {
            continue;
        }
        let segments: Vec<&str> = path.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            continue;
        }
        let cost = slot_cost(&root, &segments);
        if cost.is_none_or(|c| used + c > SLOT_BUDGET) {
            continue;
        }
        used += cost.unwrap_or(0);
        insert(&mut root, &segments, value::to_json(raw));
        any = true;
    }
    any.then(|| to_value(root))
}

/// Array slots that inserting `segments` would add; `None` when an index is absurd.
fn slot_cost(mut node: &Node, segments: &[&str]) -> Option<usize> {
    let mut cost = 0usize;
    let mut existing = true;
    for segment in segments {
        let len = match (existing, node) {
            (true, Node::Branch(_, len)) => *len,
            _ => 0,
        };
        if let Ok(index) = segment.parse::<usize>() {
            if index >= SLOT_BUDGET {
                return None;
            }
            cost += (index + 1).saturating_sub(len);
        }
        match node {
            Node::Branch(children, _) if existing => match children.get(*segment) {
                Some(child) => node = child,
                None => existing = false,
            },
            _ => existing = false,
        }
    }
    Some(cost)
}

fn insert(node: &mut Node, segments: &[&str], leaf: Value) {
    let Some((head, rest)) = segments.split_first() else {
        return;
    };
    if let Node::Leaf(_) = node {
        *node = Node::Branch(BTreeMap::new(), 0);
    }
    let Node::Branch(children, len) = node else {
        return;
    };
    if let Ok(index) = head.parse::<usize>() {
        *len = (*len).max(index + 1);
    }
    if rest.is_empty() {
        children.insert((*head).to_owned(), Node::Leaf(leaf));
        return;
    }
    let child = children
        .entry((*head).to_owned())
        .or_insert_with(|| Node::Branch(BTreeMap::new(), 0));
    insert(child, rest, leaf);
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(v) => v,
        Node::Branch(children, len) => {
            let all_indices =
                !children.is_empty() && children.keys().all(|k| k.parse::<usize>().is_ok());
            if all_indices {
                let mut list = vec![Value::Null; len];
                for (k, child) in children {
                    if let Some(slot) = k.parse::<usize>().ok().and_then(|i| list.get_mut(i)) {
                        *slot = to_value(child);
                    }
                }
                Value::Array(list)
            } else {
                let object: Map<String, Value> = children
                    .into_iter()
                    .map(|(k, n)| (k, to_value(n)))
                    .collect();
                Value::Object(object)
            }
        }
    }
}
