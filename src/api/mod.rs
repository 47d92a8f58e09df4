//! The read-only HTTP API's requests and answers, pure: API Gateway's event and response
//! shapes ([`http`]), strict query strings ([`query`]), routing and the bounds of every
//! parameter ([`route`]), the listing's opaque cursor ([`cursor`]), and problem details for
//! every refusal ([`problem`]). The handler that reads the tables is
//! [`crate::functions::api`]; docs/api.md and docs/openapi.yaml describe the API.

pub mod cursor;
pub mod http;
pub mod problem;
pub mod query;
pub mod route;

pub use http::{HttpRequest, HttpResponse};
pub use problem::Problem;
pub use route::{parse, ClientsQuery, Limits, Route};
