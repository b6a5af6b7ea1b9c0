//! The Prometheus HTTP API: one instant query (`GET /api/v1/query`) and its answer.

use std::time::Duration;

use keptn_core::event::Timestamp;
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;

use super::Error;

/// How much of an unexpected body goes into a message.
const BODY_EXCERPT_CHARS: usize = 200;

/// A measured value and Prometheus's warnings about it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sample {
    pub(super) value: f64,
    pub(super) warnings: Vec<String>,
}

/// The query endpoint of one server.
#[derive(Debug, Clone)]
pub(super) struct QueryClient {
    http: reqwest::Client,
    endpoint: Url,
    timeout: Duration,
}

/// `{"status": ..., "data": ..., "errorType": ..., "error": ..., "warnings": [...]}`.
#[derive(Debug, Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

/// One element of a vector result: `{"metric": {...}, "value": [time, "text"]}`.
#[derive(Debug, Deserialize)]
struct VectorSample {
    value: (Value, String),
}

impl QueryClient {
    pub(super) fn new(base_url: &Url, timeout: Duration) -> Result<Self, Error> {
        let mut endpoint = base_url.clone();
        let path = format!("{}/api/v1/query", base_url.path().trim_end_matches('/'));
        endpoint.set_path(&path);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(|source| Error::Client { source })?;
        Ok(Self {
            http,
            endpoint,
            timeout,
        })
    }

    /// Runs `query` at `time` and returns its single value. The whole exchange (connect,
    /// send, read the answer) is bounded by the timeout.
    pub(super) async fn instant(&self, query: &str, time: Timestamp) -> Result<Sample, Error> {
        match tokio::time::timeout(self.timeout, self.instant_unbounded(query, time)).await {
            Ok(res) => res,
            Err(_elapsed) => Err(Error::Timeout {
                query: query.to_owned(),
                timeout: self.timeout,
            }),
        }
    }

    async fn instant_unbounded(&self, query: &str, time: Timestamp) -> Result<Sample, Error> {
        let time_text = format!("{}.{:03}", time.0 / 1000, time.0 % 1000);
        let timeout_text = format!("{}ms", self.timeout.as_millis().max(1));
        // The url (with the query) is in the message already; reqwest would repeat it.
        let request_error = |source: reqwest::Error| Error::Request {
            url: self.endpoint.to_string(),
            source: source.without_url(),
        };
        let response = self
            .http
            .get(self.endpoint.clone())
            .query(&[
                ("query", query),
                ("time", &time_text),
                ("timeout", &timeout_text),
            ])
            .send()
            .await
            .map_err(request_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(request_error)?;
        let answer = serde_json::from_slice::<Answer>(&body);
        if !status.is_success() {
            return Err(match answer {
                Ok(Answer {
                    status: answer_status,
                    error_type,
                    error: Some(message),
                    ..
                }) if answer_status == "error" => Error::Rejected {
                    query: query.to_owned(),
                    status: status.as_u16(),
                    error_type: error_type.unwrap_or_else(|| "unknown".to_owned()),
                    message,
                },
                _ => http_error(query, status, &body),
            });
        }
        let answer = answer.map_err(|error| Error::InvalidResponse {
            query: query.to_owned(),
            reason: format!("not the query api's json ({error})"),
        })?;
        if answer.status != "success" {
            return Err(Error::Rejected {
                query: query.to_owned(),
                status: status.as_u16(),
                error_type: answer.error_type.unwrap_or_else(|| "unknown".to_owned()),
                message: answer
                    .error
                    .unwrap_or_else(|| format!("status '{}'", answer.status)),
            });
        }
        let data = answer.data.ok_or_else(|| Error::InvalidResponse {
            query: query.to_owned(),
            reason: "no 'data' in a success answer".to_owned(),
        })?;
        let value_text = single_value(query, data)?;
        let value = parse_value(query, &value_text)?;
        Ok(Sample {
            value,
            warnings: answer.warnings,
        })
    }
}

/// The text of the one value a vector or scalar result holds.
fn single_value(query: &str, data: Data) -> Result<String, Error> {
    let invalid = |reason: String| Error::InvalidResponse {
        query: query.to_owned(),
        reason,
    };
    match data.result_type.as_str() {
        "vector" => {
            let mut samples: Vec<VectorSample> = serde_json::from_value(data.result)
                .map_err(|error| invalid(format!("malformed vector ({error})")))?;
            match samples.len() {
                0 => Err(Error::NoData {
                    query: query.to_owned(),
                }),
                1 => Ok(samples.remove(0).value.1),
                n_samples => Err(Error::SeveralSamples {
                    query: query.to_owned(),
                    n_samples,
                }),
            }
        }
        "scalar" => {
            let (_time, text): (Value, String) = serde_json::from_value(data.result)
                .map_err(|error| invalid(format!("malformed scalar ({error})")))?;
            Ok(text)
        }
        other => Err(Error::UnsupportedResult {
            query: query.to_owned(),
            result_type: other.to_owned(),
        }),
    }
}

/// Prometheus writes sample values as strings: decimals, `NaN`, `+Inf`, `-Inf`.
fn parse_value(query: &str, text: &str) -> Result<f64, Error> {
    let value: f64 = text.parse().map_err(|_| Error::InvalidResponse {
        query: query.to_owned(),
        reason: format!("sample value '{text}' is not a number"),
    })?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NotFinite {
            query: query.to_owned(),
            value: text.to_owned(),
        })
    }
}

fn http_error(query: &str, status: StatusCode, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let mut excerpt: String = text.trim().chars().take(BODY_EXCERPT_CHARS).collect();
    if text.trim().chars().count() > BODY_EXCERPT_CHARS {
        excerpt.push_str("...");
    }
    Error::Http {
        query: query.to_owned(),
        status: status.as_u16(),
        body: excerpt,
    }
}
