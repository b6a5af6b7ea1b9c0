//! Keptn's payload merge, used to build a task's `.triggered` data from the results
//! of earlier tasks and to aggregate several `.finished` events of one task.
//!
//! Rules: objects merge recursively; a key present on one side only keeps that side's value;
//! arrays concatenate with the newer elements first; for every other value the newer one wins.
//! Keptn kept the *older* number or boolean (its merge had no case for them, so e.g.
//! `get-action.actionIndex` could not advance); here the newer scalar wins, like strings.

use serde_json::Value;

/// Merges `newer` into `older` and returns the result.
pub fn merge(older: Value, newer: Value) -> Value {
    match (older, newer) {
        (Value::Object(mut older), Value::Object(newer)) => {
            for (key, newer_value) in newer {
                let merged = match older.remove(&key) {
                    Some(older_value) => merge(older_value, newer_value),
                    None => newer_value,
                };
                older.insert(key, merged);
            }
            Value::Object(older)
        }
        (Value::Array(older), Value::Array(mut newer)) => {
            newer.extend(older);
            Value::Array(newer)
        }
        (older, Value::Null) => older,
        (Value::Null, newer) => newer,
        (_, newer) => newer,
    }
}

/// Merges `newer` into `target` in place.
pub fn merge_into(target: &mut Value, newer: Value) {
    let older = std::mem::take(target);
    *target = merge(older, newer);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn maps_merge_recursively_and_strings_take_the_newer_value() {
        let older =
            json!({"deployment": {"deploymentstrategy": "direct", "names": ["a"]}, "keep": 1});
        let newer = json!({"deployment": {"deploymentstrategy": "blue_green_service"}});
        assert_eq!(
            merge(older, newer),
            json!({"deployment": {"deploymentstrategy": "blue_green_service", "names": ["a"]}, "keep": 1})
        );
    }

    #[test]
    fn arrays_concatenate_newest_first() {
        assert_eq!(
            merge(
                json!({"uris": ["dev-url"]}),
                json!({"uris": ["staging-url"]})
            ),
            json!({"uris": ["staging-url", "dev-url"]})
        );
    }

    #[test]
    fn regression_numeric_merge_quirk_newer_number_and_boolean_win() {
        // Keptn kept 1 here, so the remediation loop never reached its third action.
        assert_eq!(
            merge(
                json!({"get-action": {"actionIndex": 1}, "flag": false}),
                json!({"get-action": {"actionIndex": 2}, "flag": true})
            ),
            json!({"get-action": {"actionIndex": 2}, "flag": true})
        );
    }

    #[test]
    fn null_does_not_erase_and_type_changes_take_the_newer_value() {
        assert_eq!(
            merge(json!({"a": "x"}), json!({"a": null})),
            json!({"a": "x"})
        );
        assert_eq!(
            merge(json!({"a": "x"}), json!({"a": {"b": 1}})),
            json!({"a": {"b": 1}})
        );
    }
}
