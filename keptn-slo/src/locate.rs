//! Maps a [`YamlPath`] to a line and column in the source text.
//!
//! serde reports *what* is wrong and, with `serde_path_to_error`, *where in the document*; this
//! module finds *where in the text*, by reading the source once more as a stream of YAML events
//! that carry positions. It is only run when there is something to report.

use saphyr_parser::{Event, Parser, Span};

use crate::diagnostic::{Location, PathSegment, YamlPath};

/// A YAML node reduced to its position and its children.
#[derive(Debug)]
enum Node {
    Leaf(Span),
    Sequence(Span, Vec<Node>),
    Mapping(Span, Vec<(Option<String>, Span, Node)>),
}

impl Node {
    fn span(&self) -> Span {
        match self {
            Node::Leaf(span) | Node::Sequence(span, _) | Node::Mapping(span, _) => *span,
        }
    }
}

/// The positions of every node of a YAML document.
#[derive(Debug)]
pub(crate) struct SourceMap {
    root: Option<Node>,
}

impl SourceMap {
    /// Reads the positions of `source`. A document that does not parse gives an empty map.
    pub(crate) fn new(source: &str) -> Self {
        let mut parser = Parser::new_from_str(source);
        let mut root = None;
        while let Some(Ok((event, span))) = parser.next() {
            match event {
                Event::StreamStart | Event::DocumentStart(_) => {}
                Event::StreamEnd | Event::DocumentEnd => break,
                other => {
                    root = read_node(other, span, &mut parser);
                    break;
                }
            }
        }
        SourceMap { root }
    }

    /// Where the value at `path` starts; for a path that does not exist (a missing key), where
    /// its nearest existing parent starts.
    pub(crate) fn value(&self, path: &YamlPath) -> Option<Location> {
        let Some(mut node) = self.root.as_ref() else {
            // A document without nodes (only whitespace or comments): point at its start.
            return Some(Location { line: 1, column: 1 });
        };
        for segment in &path.0 {
            match child(node, segment) {
                Some((_, child)) => node = child,
                None => break,
            }
        }
        Some(to_location(node.span()))
    }

    /// Where the key that ends `path` is written (for unknown keys); falls back to
    /// [`SourceMap::value`].
    pub(crate) fn key(&self, path: &YamlPath) -> Option<Location> {
        let (last, parent) = path.0.split_last()?;
        let mut node = self.root.as_ref()?;
        for segment in parent {
            node = child(node, segment)?.1;
        }
        match child(node, last) {
            Some((Some(key_span), _)) => Some(to_location(key_span)),
            _ => self.value(path),
        }
    }
}

fn child<'node>(node: &'node Node, segment: &PathSegment) -> Option<(Option<Span>, &'node Node)> {
    match (node, segment) {
        (Node::Sequence(_, items), PathSegment::Index(index)) => {
            items.get(*index).map(|item| (None, item))
        }
        (Node::Mapping(_, entries), PathSegment::Key(key)) => entries
            .iter()
            .find(|(entry_key, _, _)| entry_key.as_deref() == Some(key.as_str()))
            .map(|(_, key_span, value)| (Some(*key_span), value)),
        _ => None,
    }
}

fn to_location(span: Span) -> Location {
    Location {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

fn read_node(
    event: Event<'_>,
    span: Span,
    parser: &mut Parser<'_, saphyr_parser::StrInput<'_>>,
) -> Option<Node> {
    match event {
        Event::Scalar(..) | Event::Alias(_) => Some(Node::Leaf(span)),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let (event, item_span) = parser.next()?.ok()?;
                if matches!(event, Event::SequenceEnd) {
                    return Some(Node::Sequence(span, items));
                }
                items.push(read_node(event, item_span, parser)?);
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let (event, key_span) = parser.next()?.ok()?;
                if matches!(event, Event::MappingEnd) {
                    return Some(Node::Mapping(span, entries));
                }
                let key_text = match &event {
                    Event::Scalar(text, ..) => Some(text.to_string()),
                    _ => None,
                };
                let key_node = read_node(event, key_span, parser)?;
                let (value_event, value_span) = parser.next()?.ok()?;
                let value = read_node(value_event, value_span, parser)?;
                entries.push((key_text, key_node.span(), value));
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
