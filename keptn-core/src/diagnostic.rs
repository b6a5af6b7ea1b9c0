//! Located findings about an input file: an error (the file is rejected) or a warning (the file
//! is accepted; Keptn would silently do something surprising).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::yaml::{Location, SourceMap, YamlPath};

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted, but probably does not do what its author meant.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// One finding, with the YAML path it is about and, when known, its line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where in the document (e.g. `spec.stages[1].name`).
    pub path: YamlPath,
    /// Line and column of the node the path names.
    pub location: Option<Location>,
    /// Lower-case message quoting the offending input.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `LINE:COL: severity: message (at path)`; prefix the file name to get the usual
    /// `FILE:LINE:COL:` form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(location) => write!(f, "{location}: ")?,
            None => f.write_str("1:1: ")?,
        }
        write!(f, "{}: {} (at {})", self.severity, self.message, self.path)
    }
}

/// Collects diagnostics while a document is validated, locating each one.
#[derive(Debug)]
pub struct Diagnostics<'map> {
    source_map: &'map SourceMap,
    /// The findings so far, in discovery order.
    pub items: Vec<Diagnostic>,
}

impl<'map> Diagnostics<'map> {
    /// An empty collector for one document.
    pub fn new(source_map: &'map SourceMap) -> Self {
        Self {
            source_map,
            items: Vec::new(),
        }
    }

    /// Adds an error about the value at `path`.
    pub fn error(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.push(Severity::Error, path, false, message.into());
    }

    /// Adds a warning about the value at `path`.
    pub fn warning(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.push(Severity::Warning, path, false, message.into());
    }

    /// Adds a warning pointing at the key that ends `path`.
    pub fn warning_at_key(&mut self, path: &YamlPath, message: impl Into<String>) {
        self.push(Severity::Warning, path, true, message.into());
    }

    /// Adds an error at an already known location (e.g. from the YAML decoder).
    pub fn error_at(&mut self, location: Option<Location>, path: YamlPath, message: String) {
        self.items.push(Diagnostic {
            severity: Severity::Error,
            path,
            location,
            message,
        });
    }

    /// The location of the value at `path`.
    pub fn locate(&self, path: &YamlPath) -> Option<Location> {
        self.source_map.value_location(path)
    }

    /// Whether any error was recorded.
    pub fn has_errors(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.severity == Severity::Error)
    }

    fn push(&mut self, severity: Severity, path: &YamlPath, at_key: bool, message: String) {
        let location = if at_key {
            self.source_map.key_location(path)
        } else {
            self.source_map.value_location(path)
        };
        self.items.push(Diagnostic {
            severity,
            path: path.clone(),
            location,
            message,
        });
    }
}
