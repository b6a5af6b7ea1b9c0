//! Reading input files and rendering located problems in them, the way compilers do:
//!
//! ```text
//! error: at objectives[0].pass[0].criteria[0]: invalid criterion '<600ms': ...
//!   --> slo.yaml:5:13
//!    |
//!  5 |           - "<600ms"
//!    |             ^
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::InvalidInput;

/// A file read into memory, kept for rendering problems in it.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it.
    pub path: PathBuf,
    /// The whole text.
    pub text: String,
}

impl SourceFile {
    /// Reads a file; a file that cannot be read is invalid input.
    pub fn read(path: &Path) -> Result<SourceFile, InvalidInput> {
        std::fs::read_to_string(path)
            .map(|text| SourceFile {
                path: path.to_owned(),
                text,
            })
            .map_err(|err| InvalidInput(format!("cannot read {}: {err}", path.display())))
    }

    /// Renders one problem: `severity: message`, then `--> file:line:column` and the line with
    /// a caret, when the position is known.
    pub fn render(
        &self,
        severity: &str,
        message: &str,
        position: Option<(usize, usize)>,
    ) -> String {
        let mut res = format!("{severity}: {message}");
        let Some((line, column)) = position else {
            let _ = write!(res, "\n  --> {}", self.path.display());
            return res;
        };
        let _ = write!(res, "\n  --> {}:{line}:{column}", self.path.display());
        if let Some(text) = self.text.lines().nth(line.saturating_sub(1)) {
            let gutter = line.to_string().len();
            let caret_offset: String = text
                .chars()
                .take(column.saturating_sub(1))
                .map(|character| if character == '\t' { '\t' } else { ' ' })
                .collect();
            let _ = write!(
                res,
                "\n{:gutter$} |\n{line} | {text}\n{:gutter$} | {caret_offset}^",
                "", ""
            );
        }
        res
    }

    /// Parses the file as JSON into `T`; a syntax or type error is invalid input located at
    /// its line and column, naming the JSON path of a type error.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, InvalidInput> {
        let mut deserializer = serde_json::Deserializer::from_str(&self.text);
        let res: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
        res.map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let (line, column) = (inner.line(), inner.column());
            // serde_json appends the position to its message; it is shown separately here.
            let full = inner.to_string();
            let suffix = format!(" at line {line} column {column}");
            let message = full.strip_suffix(&suffix).unwrap_or(&full);
            let location = if path == "." {
                String::new()
            } else {
                format!("at {path}: ")
            };
            InvalidInput(self.render(
                "error",
                &format!("{what} is not valid: {location}{message}"),
                (line > 0).then_some((line, column)),
            ))
        })
    }
}
