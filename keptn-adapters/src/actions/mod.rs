//! Remediation actions as [`keptn_core::ports::ActionRunner`]s: the
//! `action.triggered` task of a remediation sequence executes the action remediation.yaml
//! chose (`{name, action, description, value}`). Two generic runners:
//!
//! - [`Webhook`] ([`WebhookConfig`]): one HTTP request per action, to a URL rendered from a
//!   template, only to hosts on an allow-list (checked before any request; redirects are not
//!   followed), with header and body templates and a timeout. A non-2xx answer is an error
//!   with the status and the start of the body.
//! - [`Script`] ([`ScriptConfig`]): runs the executable mapped to the action, relative to a
//!   base directory (a checkout of the config repo; paths leaving it are refused), with the
//!   scope, action and problem in its environment, in the base directory, killed (with the
//!   processes it started) at its time limit. A non-zero exit is an error with the exit code
//!   and the output's last lines; on success those lines are the message.
//! - [`RepoScripts`]: the same scripts, read from the project's configuration repository
//!   (service, stage, then project level) and checked out under a work directory for each run.
//!
//! Templates (webhook `url`, `headers`, `body`) use `{{project}}`, `{{stage}}`,
//! `{{service}}`, `{{problem.title}}`, `{{problem.id}}`, `{{problem.state}}`,
//! `{{problem.url}}`, `{{problem.rootCause}}`, `{{action.name}}`, `{{action.action}}`,
//! `{{action.description}}`, `{{action.value}}` (a string as it is, anything else as JSON)
//! and `{{env.NAME}}` for secrets from the environment. An unknown variable fails validation;
//! an unset environment variable fails the call. Secret values never appear in messages or
//! errors (they are replaced by `***`), and headers holding them are marked sensitive.
//!
//! The problem being remediated comes with the [`keptn_core::ports::ActionRequest`]; the
//! runners also offer `execute_for(scope, action, problem)` for callers without one (no
//! problem: `{{problem.*}}` are then empty).
//!
//! What it does not do: no TLS yet (reqwest is built without it, so `https://` URLs fail to
//! connect), no retries (the orchestrator decides), no sandboxing of scripts beyond the path
//! check and the time limit: a script runs with the service's user and environment.

mod config;
mod error;
mod repo;
mod script;
#[cfg(test)]
mod tests;
mod webhook;

pub use config::{
    BodyEscape, CallContext, DEFAULT_OUTPUT_LINES, DEFAULT_TIMEOUT, EnvSource, ScriptConfig,
    Template, ValidScriptConfig, ValidWebhookConfig, WebhookConfig,
};
pub use error::Error;
pub use repo::RepoScripts;
pub use script::Script;
pub use webhook::{BODY_LIMIT, Webhook};

/// At most `limit` bytes of `text` (cut at a character boundary), with `...` when cut.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}
