//! YAML source positions: a spanned tree built from `saphyr-parser` events, used only to map a
//! YAML path (`spec.stages[1].sequences[0].name`) to the line and column a diagnostic points at.
//!
//! Values themselves are decoded with serde; this module never interprets them.

use std::fmt;

use saphyr_parser::{Event, Parser, Span};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// A 1-based line and column in a YAML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One step of a [`YamlPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PathSegment {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root to a node, rendered like `spec.stages[0].name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct YamlPath(pub Vec<PathSegment>);

impl YamlPath {
    /// The empty path (the document root).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a mapping key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path extended by a sequence index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(PathSegment::Index(index));
        Self(segments)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (segment_idx, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if is_plain_key(key) && segment_idx == 0 => {
                    f.write_str(key)?
                }
                PathSegment::Key(key) if is_plain_key(key) => write!(f, ".{key}")?,
                PathSegment::Key(key) => write!(f, "[{key:?}]")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Whether a key can be written after a dot without ambiguity.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

impl YamlPath {
    /// Parses the `a.b[0].c` form that serde decoders put in front of their messages. Keys
    /// containing dots cannot be told apart and are split.
    pub fn parse_dotted(text: &str) -> Self {
        let mut res = Self::root();
        for part in text.split('.') {
            let (key, indexes) = match part.find('[') {
                Some(bracket) => (&part[..bracket], &part[bracket..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                res = res.key(key);
            }
            for index in indexes.split('[').filter(|index| !index.is_empty()) {
                if let Ok(index) = index.trim_end_matches(']').parse() {
                    res = res.index(index);
                }
            }
        }
        res
    }
}

#[derive(Debug)]
enum NodeKind {
    Scalar,
    Sequence(Vec<Node>),
    Mapping(Vec<(String, Location, Node)>),
}

#[derive(Debug)]
struct Node {
    start: Location,
    kind: NodeKind,
}

/// Line and column lookup for one YAML document.
#[derive(Debug)]
pub struct SourceMap {
    root: Option<Node>,
}

fn location_of(span: &Span) -> Location {
    Location {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

impl SourceMap {
    /// Builds the map of `source`. A document that does not scan yields an empty map (lookups
    /// return `None`); the serde decoder reports the syntax error itself.
    pub fn new(source: &str) -> Self {
        let mut parser = Parser::new_from_str(source);
        let mut events = Vec::new();
        while let Some(next) = parser.next_event() {
            match next {
                Ok((Event::StreamEnd, _)) => break,
                Ok((event, span)) => events.push((event, span)),
                Err(_) => return Self { root: None },
            }
        }
        let mut cursor = events.into_iter().peekable();
        // Skip StreamStart / DocumentStart.
        while let Some((event, _)) = cursor.peek() {
            if matches!(event, Event::StreamStart | Event::DocumentStart(_)) {
                cursor.next();
            } else {
                break;
            }
        }
        let root = build_node(&mut cursor);
        Self { root }
    }

    /// The position of the value at `path`, or of its closest existing ancestor.
    pub fn value_location(&self, path: &YamlPath) -> Option<Location> {
        self.find(path, false)
    }

    /// The position of the key at the end of `path` (for an index, the item itself), or of its
    /// closest existing ancestor.
    pub fn key_location(&self, path: &YamlPath) -> Option<Location> {
        self.find(path, true)
    }

    fn find(&self, path: &YamlPath, want_key: bool) -> Option<Location> {
        let mut node = self.root.as_ref()?;
        let mut best = node.start;
        let n_segments = path.0.len();
        for (segment_idx, segment) in path.0.iter().enumerate() {
            let is_last = segment_idx + 1 == n_segments;
            match (segment, &node.kind) {
                (PathSegment::Key(key), NodeKind::Mapping(entries)) => {
                    let Some((_, key_location, child)) =
                        entries.iter().find(|(entry_key, _, _)| entry_key == key)
                    else {
                        return Some(best);
                    };
                    if is_last && want_key {
                        return Some(*key_location);
                    }
                    best = child.start;
                    node = child;
                }
                (PathSegment::Index(index), NodeKind::Sequence(items)) => {
                    let Some(child) = items.get(*index) else {
                        return Some(best);
                    };
                    best = child.start;
                    node = child;
                }
                _ => return Some(best),
            }
        }
        Some(best)
    }
}

type EventCursor<'input> = std::iter::Peekable<std::vec::IntoIter<(Event<'input>, Span)>>;

fn build_node(cursor: &mut EventCursor<'_>) -> Option<Node> {
    let (event, span) = cursor.next()?;
    let start = location_of(&span);
    match event {
        Event::Scalar(..) | Event::Alias(_) => Some(Node {
            start,
            kind: NodeKind::Scalar,
        }),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                match cursor.peek() {
                    None => break,
                    Some((Event::SequenceEnd, _)) => {
                        cursor.next();
                        break;
                    }
                    Some(_) => items.push(build_node(cursor)?),
                }
            }
            Some(Node {
                start,
                kind: NodeKind::Sequence(items),
            })
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                match cursor.peek() {
                    None => break,
                    Some((Event::MappingEnd, _)) => {
                        cursor.next();
                        break;
                    }
                    Some((Event::Scalar(key, ..), key_span)) => {
                        let key = key.to_string();
                        let key_location = location_of(key_span);
                        cursor.next();
                        let value = build_node(cursor)?;
                        entries.push((key, key_location, value));
                    }
                    Some((_, key_span)) => {
                        // A complex key: keep the structure walkable, name it by position.
                        let key_location = location_of(key_span);
                        let _key = build_node(cursor)?;
                        let value = build_node(cursor)?;
                        entries.push((String::new(), key_location, value));
                    }
                }
            }
            Some(Node {
                start,
                kind: NodeKind::Mapping(entries),
            })
        }
        _ => Some(Node {
            start,
            kind: NodeKind::Scalar,
        }),
    }
}
