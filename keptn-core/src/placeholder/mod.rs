//! Query placeholder rendering: `$PROJECT`, `$STAGE`, `$SERVICE`, `$DEPLOYMENT`,
//! `$DURATION_SECONDS`, `$LABEL.<key>` and the SLO's custom filters as `$<key>` and
//! `$<KEY>`. Every SLI adapter renders its queries here.
//!
//! A placeholder is `$` followed by an identifier (`[A-Za-z_][A-Za-z0-9_]*`, the longest one
//! wins) or `$LABEL.<key>`. An unknown placeholder is an error, never left in the query
//! (Keptn left it in place and Prometheus then failed on the query). A `$` not followed by an
//! identifier (e.g. a regex anchor `"/api.*$"`) is kept as written.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use crate::Error;

/// The values placeholders stand for, by name without the `$`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, String>,
}

/// What an SLI query is rendered for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliScope<'a> {
    /// `$PROJECT`.
    pub project: &'a str,
    /// `$STAGE`.
    pub stage: &'a str,
    /// `$SERVICE`.
    pub service: &'a str,
    /// `$DEPLOYMENT` (`canary`, `primary`, `direct`).
    pub deployment: &'a str,
    /// `$DURATION_SECONDS`: the evaluation window in whole seconds, rounded up.
    pub duration_seconds: u64,
    /// `$LABEL.<key>`.
    pub labels: &'a BTreeMap<String, String>,
    /// The SLO's `filter` entries: `$<key>` and `$<KEY>`; surrounding quotes are stripped.
    pub custom_filters: &'a BTreeMap<String, String>,
}

impl Placeholders {
    /// No placeholders.
    pub fn new() -> Self {
        Self::default()
    }

    /// The placeholders Keptn's prometheus-service offers for an SLI query.
    pub fn for_sli(scope: &SliScope<'_>) -> Self {
        let mut res = Self::new();
        for (key, value) in scope.custom_filters {
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            res.insert(key, value);
            res.insert(&key.to_uppercase(), value);
        }
        res.insert("PROJECT", scope.project);
        res.insert("STAGE", scope.stage);
        res.insert("SERVICE", scope.service);
        res.insert("DEPLOYMENT", scope.deployment);
        res.insert("DURATION_SECONDS", &format!("{}s", scope.duration_seconds));
        for (key, value) in scope.labels {
            res.insert(&format!("LABEL.{key}"), value);
        }
        res
    }

    /// Adds or replaces `$name`.
    pub fn insert(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_owned(), value.to_owned());
    }

    /// Renders `template`; fails on the first unknown placeholder.
    pub fn render(&self, template: &str) -> Result<String, Error> {
        let mut res = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            res.push_str(&rest[..dollar]);
            let after = &rest[dollar + 1..];
            let identifier_len = after
                .char_indices()
                .take_while(|&(idx, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (idx > 0 && c.is_ascii_digit())
                })
                .count();
            if identifier_len == 0 {
                res.push('$');
                rest = after;
                continue;
            }
            let mut name = &after[..identifier_len];
            let mut consumed = identifier_len;
            if name == "LABEL" && after[identifier_len..].starts_with('.') {
                let key_len = after[identifier_len + 1..]
                    .chars()
                    .take_while(|&c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                    .count();
                consumed = identifier_len + 1 + key_len;
                name = &after[..consumed];
            }
            match self.values.get(name) {
                Some(value) => res.push_str(value),
                None => {
                    return Err(Error::UnknownPlaceholder {
                        placeholder: format!("${name}"),
                        template: template.to_owned(),
                    });
                }
            }
            rest = &after[consumed..];
        }
        res.push_str(rest);
        Ok(res)
    }
}
