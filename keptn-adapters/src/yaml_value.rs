//! Wording for YAML values in configuration errors, shared by the adapters that read Keptn's
//! YAML files (`sli.yaml`, `jmeter.conf.yaml`).

use serde_yaml::Value;

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
