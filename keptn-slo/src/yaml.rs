//! YAML paths and source positions: a [`YamlPath`] names a node of a document
//! (`objectives[1].pass[0].criteria[0]`, `spec.stages[2].name`), a [`SourceMap`] finds the
//! line and column ([`Location`]) that node is written at.
//!
//! serde reports *what* is wrong and, through `serde_path_to_error` or the path a decoder puts
//! in front of its message ([`YamlPath::parse_dotted`]), *where in the document*; this module
//! finds *where in the text*, by reading the source once more as a stream of `saphyr-parser`
//! events that carry positions. It never interprets values, and it is only worth building when
//! there is something to report.
//!
//! keptn-core locates its shipyard, uniform and remediation findings with the same types (it
//! re-exports this module as `keptn_core::yaml`).

use std::fmt;

use saphyr_parser::{Event, Parser, Span, StrInput};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// A position in the source text: line and column, both counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    /// `LINE:COLUMN`, e.g. `4:13`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where an empty document (only whitespace or comments) is located.
const DOCUMENT_START: Location = Location { line: 1, column: 1 };

/// One step of a [`YamlPath`]: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PathSegment {
    /// A key of a mapping, e.g. `objectives`.
    Key(String),
    /// A position in a sequence, counted from 0 as written in the file.
    Index(usize),
}

/// A path from the document root to a node.
///
/// Displayed the way Keptn's documentation writes paths, e.g. `spec.stages[0].name`; a key
/// that cannot follow a dot unambiguously (empty, or with characters other than letters,
/// digits, `_` and `-`) is quoted in brackets (`labels["app.kubernetes.io/name"]`), and the
/// root itself displays as `<root>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct YamlPath(pub Vec<PathSegment>);

impl YamlPath {
    /// The empty path: the document root.
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

    /// Parses the `a.b[0].c` form that serde decoders put in front of their messages. Keys
    /// containing dots cannot be told apart and are split; index text that is not a number is
    /// skipped.
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

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (segment_idx, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Key(key) if is_plain_key(key) && segment_idx == 0 => {
                    f.write_str(key)?;
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

/// The positions of every node of one YAML document, for [`YamlPath`] → [`Location`] lookups.
#[derive(Debug)]
pub struct SourceMap {
    root: Root,
}

/// What a [`SourceMap`] knows about its document.
#[derive(Debug)]
enum Root {
    /// Nothing: the text does not scan, or there is no text ([`SourceMap::unlocated`]).
    Unknown,
    /// A document without nodes (empty, only whitespace or comments).
    Empty,
    /// The document's root node.
    Node(Node),
}

/// A YAML node reduced to where it starts and its children.
#[derive(Debug)]
struct Node {
    start: Location,
    kind: NodeKind,
}

#[derive(Debug)]
enum NodeKind {
    /// A scalar or an alias.
    Leaf,
    Sequence(Vec<Node>),
    Mapping(Vec<Entry>),
}

/// One key/value pair of a mapping.
#[derive(Debug)]
struct Entry {
    /// The key's text; `None` for a key that is not a scalar (a complex key never matches a
    /// [`PathSegment::Key`], but the entry keeps the mapping walkable).
    key: Option<String>,
    key_start: Location,
    value: Node,
}

impl Node {
    /// The child `segment` names, with where its key is written (for mapping entries).
    fn child(&self, segment: &PathSegment) -> Option<(Option<Location>, &Node)> {
        match (&self.kind, segment) {
            (NodeKind::Sequence(items), PathSegment::Index(index)) => {
                items.get(*index).map(|item| (None, item))
            }
            (NodeKind::Mapping(entries), PathSegment::Key(key)) => entries
                .iter()
                .find(|entry| entry.key.as_deref() == Some(key.as_str()))
                .map(|entry| (Some(entry.key_start), &entry.value)),
            _ => None,
        }
    }
}

impl SourceMap {
    /// Reads the positions of the first document of `source`.
    ///
    /// A document that does not scan gives a map that locates nothing (every lookup returns
    /// `None`; the serde decoder reports the syntax error itself). A document without nodes
    /// (empty, only whitespace or comments) locates everything at its start, `1:1`.
    pub fn new(source: &str) -> Self {
        let mut parser = Parser::new_from_str(source);
        let root = loop {
            match parser.next_event() {
                Some(Ok((Event::StreamStart | Event::DocumentStart(_), _))) => {}
                Some(Ok((Event::StreamEnd | Event::DocumentEnd, _))) => break Root::Empty,
                Some(Ok((event, span))) => {
                    break read_node(event, span, &mut parser).map_or(Root::Unknown, Root::Node);
                }
                Some(Err(_)) | None => break Root::Unknown,
            }
        };
        Self { root }
    }

    /// A map that locates nothing: every lookup returns `None`. For findings about a generated
    /// document, which has no source text to point into (unlike the empty document, whose
    /// findings are located at `1:1`).
    pub fn unlocated() -> Self {
        Self {
            root: Root::Unknown,
        }
    }

    /// Where the value at `path` starts; for a path that does not exist (a missing key, an
    /// index past the end), where its nearest existing ancestor starts.
    pub fn value_location(&self, path: &YamlPath) -> Option<Location> {
        self.find(path, false)
    }

    /// Where the key that ends `path` is written (for unknown keys); for a path ending in an
    /// index, where the item starts. Falls back like [`SourceMap::value_location`].
    pub fn key_location(&self, path: &YamlPath) -> Option<Location> {
        self.find(path, true)
    }

    fn find(&self, path: &YamlPath, at_key: bool) -> Option<Location> {
        let mut node = match &self.root {
            Root::Unknown => return None,
            Root::Empty => return Some(DOCUMENT_START),
            Root::Node(node) => node,
        };
        let mut segments = path.0.iter().peekable();
        while let Some(segment) = segments.next() {
            let Some((key_start, child)) = node.child(segment) else {
                break;
            };
            if at_key
                && segments.peek().is_none()
                && let Some(key_start) = key_start
            {
                return Some(key_start);
            }
            node = child;
        }
        Some(node.start)
    }
}

fn location_of(span: Span) -> Location {
    Location {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// The node `event` starts, reading its children from `parser`; `None` when the text stops
/// scanning inside it.
fn read_node(event: Event<'_>, span: Span, parser: &mut Parser<'_, StrInput<'_>>) -> Option<Node> {
    let kind = match event {
        Event::Scalar(..) | Event::Alias(_) => NodeKind::Leaf,
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                let (event, item_span) = parser.next_event()?.ok()?;
                if matches!(event, Event::SequenceEnd) {
                    break NodeKind::Sequence(items);
                }
                items.push(read_node(event, item_span, parser)?);
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                let (event, key_span) = parser.next_event()?.ok()?;
                if matches!(event, Event::MappingEnd) {
                    break NodeKind::Mapping(entries);
                }
                let key = match &event {
                    Event::Scalar(text, ..) => Some(text.to_string()),
                    _ => None,
                };
                // Read (and skip) a complex key whole, so that its value comes next.
                let key_node = read_node(event, key_span, parser)?;
                let (value_event, value_span) = parser.next_event()?.ok()?;
                let value = read_node(value_event, value_span, parser)?;
                entries.push(Entry {
                    key,
                    key_start: key_node.start,
                    value,
                });
            }
        }
        // A well-formed event stream puts nothing else where a node belongs.
        _ => return None,
    };
    Some(Node {
        start: location_of(span),
        kind,
    })
}
