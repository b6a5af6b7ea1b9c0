//! Reading Keptn's YAML files (`sli.yaml`, `jmeter.conf.yaml`) into raw types, and the wording
//! of YAML values in their messages.
//!
//! The readers decode the text into raw types (serde, matching the file exactly) and then
//! validate those. A raw type keeps every scalar as the YAML value written, and a list or
//! mapping of the wrong kind as [`Shaped::Found`]: a wrong value never stops the decoder, so
//! validation reports it together with every other problem, quoting what was written.

use std::collections::BTreeMap;

use keptn_core::Diagnostic;
use keptn_core::diagnostic::Diagnostics;
use keptn_core::yaml::{Location, YamlPath};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_yaml::{Mapping, Value};

/// Parses `source` as YAML and decodes the document into `T`. `None`, with the error
/// reported at its line and column, when the text is not YAML.
pub(crate) fn read_document<T: YamlKind>(
    source: &str,
    diagnostics: &mut Diagnostics<'_>,
) -> Option<Shaped<T>> {
    let root = YamlPath::root();
    // The text is first read as a plain YAML value, so that it is checked as YAML (a
    // duplicate key, for example) before any raw type sees it.
    let document: Value = match serde_yaml::from_str(source) {
        Ok(document) => document,
        Err(error) => {
            let location = error.location().map(|location| Location {
                line: location.line(),
                column: location.column(),
            });
            diagnostics.error_at(location, root, format!("not valid yaml: {error}"));
            return None;
        }
    };
    match T::decode(document) {
        Ok(document) => Some(document),
        // The raw types accept every YAML value, so this is not expected; it is still
        // reported rather than lost.
        Err(error) => {
            diagnostics.error(&root, format!("cannot read the document: {error}"));
            None
        }
    }
}

/// A list or mapping of the kind a raw field expects, or the value written instead.
#[derive(Debug)]
pub(crate) enum Shaped<T> {
    /// The value, of the expected kind.
    Expected(T),
    /// Something else (null for a key written without a value), kept for the "expected …,
    /// found …" message.
    Found(Value),
}

impl<'de, T: YamlKind> Deserialize<'de> for Shaped<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::decode(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// A raw type that is read from one kind of YAML value.
pub(crate) trait YamlKind: Sized {
    /// Decodes `value` when it is of this kind; gives it back as [`Shaped::Found`] otherwise.
    fn decode(value: Value) -> Result<Shaped<Self>, serde_yaml::Error>;
}

/// A list, each item decoded into `T`.
impl<T: DeserializeOwned> YamlKind for Vec<T> {
    fn decode(value: Value) -> Result<Shaped<Self>, serde_yaml::Error> {
        match value {
            Value::Sequence(items) => {
                Ok(Shaped::Expected(Vec::deserialize(Value::Sequence(items))?))
            }
            other => Ok(Shaped::Found(other)),
        }
    }
}

/// A mapping of names to values, as written (names may be numbers or booleans).
impl YamlKind for Mapping {
    fn decode(value: Value) -> Result<Shaped<Self>, serde_yaml::Error> {
        match value {
            Value::Mapping(entries) => Ok(Shaped::Expected(entries)),
            other => Ok(Shaped::Found(other)),
        }
    }
}

/// A raw type with fixed keys (a serde struct that collects the keys it does not know with
/// `#[serde(flatten)] unknown`).
pub(crate) trait RawMapping: DeserializeOwned {
    /// The keys the type has fields for.
    const KEYS: &'static [&'static str];
}

/// A mapping decoded into the raw type `T`, with its keys in the order they are written.
#[derive(Debug)]
pub(crate) struct Keyed<T> {
    /// The fields.
    pub(crate) fields: T,
    /// Every key as written, in file order, including keys that are not strings (which `T`
    /// cannot hold, so they are left out of `fields`).
    pub(crate) keys: Vec<Value>,
}

impl<T: RawMapping> YamlKind for Keyed<T> {
    fn decode(value: Value) -> Result<Shaped<Self>, serde_yaml::Error> {
        let Value::Mapping(entries) = value else {
            return Ok(Shaped::Found(value));
        };
        let mut keys = Vec::with_capacity(entries.len());
        let mut fields = Mapping::with_capacity(entries.len());
        for (key, value) in entries {
            keys.push(key.clone());
            match key.as_str() {
                None => {}
                Some(name) if T::KEYS.contains(&name) => {
                    fields.insert(key, value);
                }
                // serde's `flatten` holds the values of unknown keys in a form with no room
                // for YAML tags (`!foo`); only the key of an unknown entry is ever used.
                Some(_) => {
                    fields.insert(key, without_tags(value));
                }
            }
        }
        Ok(Shaped::Expected(Keyed {
            fields: T::deserialize(Value::Mapping(fields))?,
            keys,
        }))
    }
}

/// `value` with every YAML tag removed, at every depth.
fn without_tags(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => without_tags(tagged.value),
        Value::Sequence(items) => Value::Sequence(items.into_iter().map(without_tags).collect()),
        Value::Mapping(entries) => Value::Mapping(
            entries
                .into_iter()
                .map(|(key, value)| (without_tags(key), without_tags(value)))
                .collect(),
        ),
        other => other,
    }
}

/// For raw fields declared `#[serde(default, deserialize_with = "present")]`: a key written
/// without a value (`vuser:`) is `Some(null)`, so that validation can tell it from a key that
/// is not there (`None`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Collects the findings about the fields of one mapping and hands them on in the order the
/// keys are written. Validation checks a raw type's fields in the order the type declares
/// them; whoever reads the findings expects them in the order of the file.
pub(crate) struct KeyedFindings<'a, 'map> {
    diagnostics: &'a mut Diagnostics<'map>,
    /// How many findings there were before the first field.
    n_before: usize,
    /// Each checked key and where its findings start in `diagnostics.items`, in check order.
    starts: Vec<(String, usize)>,
}

impl<'a, 'map> KeyedFindings<'a, 'map> {
    /// Findings about one mapping, added to `diagnostics`.
    pub(crate) fn new(diagnostics: &'a mut Diagnostics<'map>) -> Self {
        let n_before = diagnostics.items.len();
        Self {
            diagnostics,
            n_before,
            starts: Vec::new(),
        }
    }

    /// Where the findings about `key` go, until the next call.
    pub(crate) fn about(&mut self, key: &str) -> &mut Diagnostics<'map> {
        self.starts
            .push((key.to_owned(), self.diagnostics.items.len()));
        self.diagnostics
    }

    /// Puts the findings in the order of `keys` (the mapping's keys, as written), reporting
    /// each key that is not a string in its place with `non_string_key`.
    pub(crate) fn in_order_of(
        self,
        keys: &[Value],
        mut non_string_key: impl FnMut(&mut Diagnostics<'map>, &Value),
    ) {
        let mut found = self.diagnostics.items.split_off(self.n_before);
        let mut by_key: BTreeMap<String, Vec<Diagnostic>> = BTreeMap::new();
        for (key, start) in self.starts.into_iter().rev() {
            let of_key = found.split_off(start - self.n_before);
            by_key.entry(key).or_default().splice(0..0, of_key);
        }
        // Anything found before the first key (there is nothing, as every check names its
        // key first) keeps its place in front.
        self.diagnostics.items.append(&mut found);
        for key in keys {
            match key.as_str() {
                Some(name) => {
                    if let Some(mut of_key) = by_key.remove(name) {
                        self.diagnostics.items.append(&mut of_key);
                    }
                }
                None => non_string_key(self.diagnostics, key),
            }
        }
        // Findings about a key that is not written (there are none) come last.
        for (_, mut of_key) in by_key {
            self.diagnostics.items.append(&mut of_key);
        }
    }
}

/// A scalar as text (`1.0` and `"1.0"` alike), `None` for collections and null.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// What kind of value it is, for "expected …, found …" messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// A scalar quoted, anything else described.
pub(crate) fn describe_scalar(value: &Value) -> String {
    match scalar_text(value) {
        Some(text) => format!("'{text}'"),
        None => describe(value).to_owned(),
    }
}

/// The warning for a `spec_version` that is not `expected` (`None` when it is): files of another
/// version are read as `expected`.
pub(crate) fn spec_version_warning(value: &Value, expected: &str) -> Option<String> {
    match scalar_text(value) {
        Some(version) if version == expected => None,
        Some(version) => Some(format!(
            "spec_version '{version}' is not '{expected}'; reading it as {expected}"
        )),
        None => Some(format!(
            "spec_version must be a string like '{expected}', found {}",
            describe(value)
        )),
    }
}
