//! For the HTTP API's tests: request events as API Gateway (HTTP API, payload format 2.0)
//! sends them, and the check of an answer against docs/openapi.yaml (status, content type,
//! headers, body by JSON Schema 2020-12 with boon).
#![allow(dead_code)]

use std::collections::HashMap;

use iot_presence::api::route::ROUTES;
use iot_presence::api::HttpResponse;
use serde_json::{json, Value};

/// The route template `path` matches (`/clients/{clientId}` for `/clients/x`), if any.
pub fn template_of(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    ROUTES.iter().map(|(t, _)| *t).find(|t| {
        let parts: Vec<&str> = t.trim_start_matches('/').split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s)
    })
}

/// Percent-decoding of a path segment (what API Gateway does for `pathParameters`).
fn decoded(segment: &str) -> Option<String> {
    iot_presence::api::query::decode(&segment.replace('+', "%2B")).ok()
}

/// The event API Gateway sends for `method` on `target` (a path with an optional `?query`,
/// percent-encoded as a client sends it), on the `$default` stage: the route key of the
/// matching route (GET only) or `$default`, the path parameters API Gateway decodes, the
/// query string raw and parsed (a repeated name's values joined by commas, as it does).
pub fn event(method: &str, target: &str) -> Value {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let template = template_of(path).filter(|_| method == "GET");
    let route_key = template.map_or("$default".to_owned(), |t| format!("GET {t}"));
    let mut parameters: HashMap<String, String> = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (
            iot_presence::api::query::decode(k).unwrap_or_else(|_| k.to_owned()),
            iot_presence::api::query::decode(v).unwrap_or_else(|_| v.to_owned()),
        );
        parameters
            .entry(k)
            .and_modify(|old| *old = format!("{old},{v}"))
            .or_insert(v);
    }
    let path_parameters = template.and_then(|t| {
        let position = t.split('/').position(|p| p == "{clientId}")?;
        let id = decoded(path.split('/').nth(position)?)?;
        Some(json!({ "clientId": id }))
    });
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "host": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-67891233-abcdef012345678912345678",
            "x-forwarded-for": "192.0.2.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "queryStringParameters": if parameters.is_empty() { Value::Null } else { json!(parameters) },
        "pathParameters": path_parameters,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "authorizer": {"iam": {"accessKey": "AKIAEXAMPLE", "accountId": "123456789012",
                "callerId": "AIDAEXAMPLE", "principalOrgId": null,
                "userArn": "arn:aws:iam::123456789012:user/reader", "userId": "AIDAEXAMPLE"}},
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abcdef1234",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": route_key,
            "stage": "$default",
            "time": "07/Dec/2026:14:30:00 +0000",
            "timeEpoch": 1796653800000u64
        },
        "isBase64Encoded": false
    })
}

/// docs/openapi.yaml, and its schemas compiled as they are asked for.
pub struct OpenApi {
    pub doc: Value,
    schemas: boon::Schemas,
    compiler: boon::Compiler,
    compiled: HashMap<String, boon::SchemaIndex>,
}

const LOCATION: &str = "file:///docs/openapi.yaml";

impl OpenApi {
    pub fn load() -> OpenApi {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml"))
                .expect("docs/openapi.yaml");
        OpenApi::from_doc(serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML"))
    }

    pub fn from_doc(doc: Value) -> OpenApi {
        assert_eq!(
            doc["openapi"], "3.1.0",
            "OpenAPI 3.1: schemas are JSON Schema 2020-12"
        );
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V2020_12);
        compiler
            .add_resource(LOCATION, doc.clone())
            .expect("the document is a JSON value");
        OpenApi {
            doc,
            schemas: boon::Schemas::new(),
            compiler,
            compiled: HashMap::new(),
        }
    }

    /// `value` with a `$ref` (to `#/components/...`) followed.
    fn resolve<'a>(&'a self, value: &'a Value) -> &'a Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}")),
            None => value,
        }
    }

    /// Checks `response` against the document: the operation of `GET template` (`None`: a
    /// path no route has, whose 404 and 405 answers are the shared ones), its response for the
    /// status, the content type, the headers it documents and the body by its schema. The
    /// error says what does not match.
    pub fn check(&mut self, template: Option<&str>, response: &HttpResponse) -> Result<(), String> {
        let status = response.status_code.to_string();
        let documented = match template {
            Some(t) => {
                let operation = self.doc["paths"][t]["get"].clone();
                if operation.is_null() {
                    return Err(format!("GET {t} is not in the document"));
                }
                operation["responses"][&status].clone()
            }
            None => match response.status_code {
                404 => json!({"$ref": "#/components/responses/NotFound"}),
                405 => json!({"$ref": "#/components/responses/MethodNotAllowed"}),
                other => return Err(format!("{other} for a path no route has")),
            },
        };
        if documented.is_null() {
            return Err(format!(
                "status {status} is not documented for {template:?}"
            ));
        }
        let documented = self.resolve(&documented).clone();
        let content_type = response
            .content_type()
            .ok_or("the answer has no content-type")?;
        let media = &documented["content"][content_type];
        if media.is_null() {
            return Err(format!(
                "content type {content_type} is not documented for {status} of {template:?}"
            ));
        }
        if let Some(headers) = documented["headers"].as_object() {
            for name in headers.keys() {
                if !response.headers.contains_key(name) {
                    return Err(format!("header {name} is documented but missing"));
                }
            }
        }
        let reference = media["schema"]["$ref"]
            .as_str()
            .ok_or("every documented body is a $ref to a named schema")?
            .to_owned();
        let index = match self.compiled.get(&reference) {
            Some(i) => *i,
            None => {
                let i = self
                    .compiler
                    .compile(&format!("{LOCATION}{reference}"), &mut self.schemas)
                    .map_err(|e| format!("compiling {reference}: {e:#}"))?;
                self.compiled.insert(reference.clone(), i);
                i
            }
        };
        let body: Value = serde_json::from_str(&response.body)
            .map_err(|e| format!("the body is not JSON: {e}"))?;
        self.schemas
            .validate(&body, index)
            .map_err(|e| format!("{reference}: {e}\nbody: {body}"))
    }
}
