//! The webhook action runner: one HTTP request per remediation action.

use async_trait::async_trait;
use keptn_core::event::{Action, Problem};
use keptn_core::ports::{ActionRequest, ActionRunner, AdapterError, Scope};

use super::config::{BodyEscape, CallContext, EnvSource, ValidWebhookConfig, host_allowed, redact};
use super::{Error, truncate};

/// How much of a response body messages and errors keep.
pub const BODY_LIMIT: usize = 512;

/// Executes remediation actions by calling a webhook (see the module docs of
/// [`super`]). Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    config: ValidWebhookConfig,
    client: reqwest::Client,
    env: EnvSource,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Webhook")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// A runner reading `{{env.NAME}}` from the process environment.
    pub fn new(config: ValidWebhookConfig) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect could lead off the allow-list.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| Error::Client {
                message: error.to_string(),
            })?;
        Ok(Self {
            config,
            client,
            env: std::sync::Arc::new(|name| std::env::var(name).ok()),
        })
    }

    /// The same runner with `{{env.NAME}}` read from `env` (a secret store, or tests).
    pub fn with_env(mut self, env: EnvSource) -> Self {
        self.env = env;
        self
    }

    /// Executes `action` for `scope`, with `problem` for the `{{problem.*}}` variables
    /// (empty when `None`). Returns a message naming the call and its answer.
    pub async fn execute_for(
        &self,
        scope: &Scope,
        action: &Action,
        problem: Option<&Problem>,
    ) -> Result<String, Error> {
        let name = action.action.as_deref().unwrap_or_default();
        if !self.handles(name) {
            return Err(Error::NotHandled {
                action: name.to_owned(),
                handled: self.config.actions.clone(),
            });
        }
        let context = CallContext {
            scope,
            action,
            problem,
        };
        let mut secrets = Vec::new();
        let url_text = self.config.url.render(
            "url",
            &context,
            &self.env,
            &percent_encode,
            false,
            &mut secrets,
        )?;
        let shown_url = redact(&url_text, &secrets);
        let url = reqwest::Url::parse(&url_text).map_err(|error| Error::InvalidUrl {
            url: shown_url.clone(),
            reason: error.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::InvalidUrl {
                url: shown_url,
                reason: "the scheme must be http or https".to_owned(),
            });
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if !host_allowed(&host, url.port(), &self.config.allowed_hosts) {
            return Err(Error::HostNotAllowed {
                host: redact(&host, &secrets),
                allowed: self.config.allowed_hosts.clone(),
            });
        }
        let mut request = self.client.request(self.config.method.clone(), url);
        for (header, template) in &self.config.headers {
            let value = template.render(
                &format!("headers.{header}"),
                &context,
                &self.env,
                &|text| text.to_owned(),
                false,
                &mut secrets,
            )?;
            let mut value = reqwest::header::HeaderValue::from_str(&value).map_err(|_| {
                Error::InvalidHeader {
                    header: header.to_string(),
                }
            })?;
            value.set_sensitive(true);
            request = request.header(header.clone(), value);
        }
        if let Some(body) = &self.config.body {
            let escape: &dyn Fn(&str) -> String = match self.config.body_escape {
                BodyEscape::Json => &json_escape,
                BodyEscape::None => &|text| text.to_owned(),
            };
            let body = body.render("body", &context, &self.env, escape, true, &mut secrets)?;
            request = request.body(body);
        }
        let method = self.config.method.to_string();
        let request_error = |error: reqwest::Error, secrets: &[String]| {
            if error.is_timeout() {
                Error::Timeout {
                    what: format!("webhook {method} '{shown_url}'"),
                    timeout: self.config.timeout,
                }
            } else {
                Error::Request {
                    method: method.clone(),
                    url: shown_url.clone(),
                    message: redact(&error_chain(&error), secrets),
                }
            }
        };
        let response = request
            .send()
            .await
            .map_err(|error| request_error(error, &secrets))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|error| request_error(error, &secrets))?;
        let body = redact(&truncate(body.trim(), BODY_LIMIT), &secrets);
        if !status.is_success() {
            return Err(Error::Status {
                method,
                url: shown_url,
                status: status.as_u16(),
                body,
            });
        }
        Ok(format!(
            "webhook {method} '{shown_url}' answered http {}: '{body}'",
            status.as_u16()
        ))
    }
}

#[async_trait]
impl ActionRunner for Webhook {
    fn handles(&self, action: &str) -> bool {
        self.config.actions.iter().any(|handled| handled == action)
    }

    /// Runs [`Webhook::execute_for`] with the request's problem.
    async fn execute(&self, request: &ActionRequest) -> Result<String, AdapterError> {
        Ok(self
            .execute_for(&request.scope, &request.action, Some(&request.problem))
            .await?)
    }
}

/// Every cause of a reqwest error, joined with `": "` (reqwest's own text omits them).
fn error_chain(error: &reqwest::Error) -> String {
    let mut res = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !res.contains(&text) {
            res.push_str(": ");
            res.push_str(&text);
        }
        source = cause.source();
    }
    res
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut res = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            res.push(char::from(byte));
        } else {
            res.push_str(&format!("%{byte:02X}"));
        }
    }
    res
}

/// JSON string content: `text` as a JSON string without its quotes.
fn json_escape(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}
