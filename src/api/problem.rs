//! Error answers: RFC 9457 problem details (`application/problem+json`), one type per class
//! of error. A refusal of input names the parameter (`parameter`, an extension member) and
//! says what is accepted; it repeats the input only capped and escaped
//! ([`crate::errors::shown`]), so an answer never carries a megabyte of someone's query back.

use serde::Serialize;

use super::http::{HttpResponse, PROBLEM_JSON};

/// The problem types (RFC 9457 §3.1.1: tag URIs, which identify without resolving;
/// docs/api.md "Errors" describes each).
pub mod kind {
    pub const INVALID_PARAMETER: &str = "tag:iot-presence,2025:problem:invalid-parameter";
    pub const UNKNOWN_CLIENT: &str = "tag:iot-presence,2025:problem:unknown-client";
    pub const NOT_FOUND: &str = "tag:iot-presence,2025:problem:not-found";
    pub const METHOD_NOT_ALLOWED: &str = "tag:iot-presence,2025:problem:method-not-allowed";
    pub const UNAVAILABLE: &str = "tag:iot-presence,2025:problem:unavailable";
}

/// One problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// One of [`kind`].
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The query or path parameter that was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// API Gateway's request id: what to quote when asking about an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Problem {
    fn new(kind: &'static str, title: &'static str, status: u16, detail: String) -> Problem {
        Problem {
            kind,
            title,
            status,
            detail,
            parameter: None,
            request_id: None,
        }
    }

    /// 400: `parameter` is wrong; `detail` says how.
    pub fn invalid(parameter: &str, detail: impl Into<String>) -> Problem {
        Problem {
            parameter: Some(parameter.to_owned()),
            ..Problem::new(
                kind::INVALID_PARAMETER,
                "Invalid parameter",
                400,
                detail.into(),
            )
        }
    }

    /// 404: nothing is recorded for the client.
    pub fn unknown_client(client_id: &str) -> Problem {
        Problem {
            parameter: Some("clientId".to_owned()),
            ..Problem::new(
                kind::UNKNOWN_CLIENT,
                "Unknown client",
                404,
                format!(
                    "nothing is recorded for client {} (no status item, no events)",
                    crate::errors::shown(client_id)
                ),
            )
        }
    }

    /// 404: no route has this path.
    pub fn not_found() -> Problem {
        Problem::new(
            kind::NOT_FOUND,
            "Not found",
            404,
            "no such resource: the routes are GET /clients, /clients/{clientId}, \
             /clients/{clientId}/history, /clients/{clientId}/availability, /fleet/summary \
             and /fleet/incident"
                .to_owned(),
        )
    }

    /// 405: the path exists, the method does not.
    pub fn method_not_allowed(method: &str) -> Problem {
        Problem::new(
            kind::METHOD_NOT_ALLOWED,
            "Method not allowed",
            405,
            format!(
                "{} is not allowed: the API is read-only, every route is GET",
                crate::errors::shown(method)
            ),
        )
    }

    /// 503: the tables could not be read; asking again later may succeed.
    pub fn unavailable() -> Problem {
        Problem::new(
            kind::UNAVAILABLE,
            "Service unavailable",
            503,
            "reading the presence tables failed; try again (the function's log has the cause \
             under this request id)"
                .to_owned(),
        )
    }

    /// The HTTP answer (405s say which method is allowed).
    pub fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::json(self.status, PROBLEM_JSON, self);
        if self.status == 405 {
            response
                .headers
                .insert("allow".to_owned(), "GET".to_owned());
        }
        response
    }
}
