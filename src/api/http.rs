//! The HTTP API's request and response as API Gateway HTTP APIs send them to Lambda (payload
//! format 2.0): only the fields the API reads, with serde. Small on purpose: `lambda_http`
//! and `aws_lambda_events` would bring a second HTTP stack and hundreds of event types into a
//! bootstrap that needs two structs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A request, as API Gateway (HTTP API, payload format 2.0) invokes the function with it.
/// Every field defaults: an event missing one is answered (400 or 404), never a crash.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpRequest {
    /// `"2.0"`.
    pub version: String,
    /// The route API Gateway matched: `GET /clients/{clientId}`, or `$default`.
    pub route_key: String,
    /// The path as the client sent it, percent-encoded; with the stage's name first unless the
    /// stage is `$default`.
    pub raw_path: String,
    /// The query string as sent, without `?`; empty when there is none.
    pub raw_query_string: String,
    /// API Gateway's parse of the query string: a repeated parameter's values are joined by
    /// commas, so the API reads `raw_query_string` when there is one.
    pub query_string_parameters: Option<BTreeMap<String, String>>,
    /// The route's path parameters, percent-decoded (`clientId`).
    pub path_parameters: Option<BTreeMap<String, String>>,
    pub headers: BTreeMap<String, String>,
    pub request_context: RequestContext,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestContext {
    /// API Gateway's id of the request (logged with every answer).
    pub request_id: String,
    /// `$default`, or the stage's name (which then begins `raw_path`).
    pub stage: String,
    pub http: RequestHttp,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestHttp {
    pub method: String,
    pub path: String,
}

/// The answer, in the payload format 2.0 response shape. The body is always JSON text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
}

/// The content type of a successful answer.
pub const JSON: &str = "application/json";
/// The content type of an error's answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

impl HttpResponse {
    /// `status` with `body` serialised as `content_type`. Answers are about live state, so
    /// no cache keeps them.
    pub fn json(status: u16, content_type: &str, body: &impl Serialize) -> HttpResponse {
        let body = serde_json::to_string(body).expect("a JSON view serializes");
        let headers = BTreeMap::from([
            ("content-type".to_owned(), content_type.to_owned()),
            ("cache-control".to_owned(), "no-store".to_owned()),
        ]);
        HttpResponse {
            status_code: status,
            headers,
            body,
            is_base64_encoded: false,
        }
    }

    /// The answer's `content-type`.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type").map(String::as_str)
    }
}
