//! AWS list prices, us-east-1, in US dollars: the one place for them, each with its source
//! page and the date its value is from. The machine these figures are built on cannot reach
//! AWS's pages, so they were not re-read on the day of the run: the values are the published
//! ones as of the date given (DynamoDB on-demand after AWS's price reduction of 2024-11-01).
//! Check them for your region before you plan with them.

/// One price.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// Dollars per `unit`.
    pub dollars: f64,
    pub unit: &'static str,
    pub source: &'static str,
    /// The date the value is the published one of.
    pub as_of: &'static str,
}

const DYNAMODB: &str = "https://aws.amazon.com/dynamodb/pricing/on-demand/";
const LAMBDA: &str = "https://aws.amazon.com/lambda/pricing/";
const CLOUDWATCH: &str = "https://aws.amazon.com/cloudwatch/pricing/";
const SNS: &str = "https://aws.amazon.com/sns/pricing/";
const IOT: &str = "https://aws.amazon.com/iot-core/pricing/";
const API_GATEWAY: &str = "https://aws.amazon.com/api-gateway/pricing/";
/// The date every price below is the published one of.
pub const AS_OF: &str = "2024-11";

/// A price of [`AS_OF`].
const fn price(dollars: f64, unit: &'static str, source: &'static str) -> Price {
    Price {
        dollars,
        unit,
        source,
        as_of: AS_OF,
    }
}

/// On-demand write request unit (1 KB written; a refused conditional write is charged too).
pub const WRITE_UNIT: Price = price(0.625 / 1e6, "write request unit", DYNAMODB);
/// On-demand read request unit (4 KB strongly consistent, 8 KB eventually consistent).
pub const READ_UNIT: Price = price(0.125 / 1e6, "read request unit", DYNAMODB);
/// Table storage, Standard table class (the first 25 GB a month are free; not counted here).
pub const STORAGE: Price = price(0.25, "GB-month", DYNAMODB);
/// Continuous backups (point-in-time recovery), of the table size.
pub const PITR: Price = price(0.20, "GB-month", DYNAMODB);
/// DynamoDB's per-item storage overhead, bytes (added to each item's size for storage).
pub const ITEM_OVERHEAD_BYTES: f64 = 100.0;
/// Lambda requests.
pub const LAMBDA_REQUEST: Price = price(0.20 / 1e6, "request", LAMBDA);
/// Lambda duration, arm64.
pub const LAMBDA_GB_SECOND: Price = price(0.000_013_333_4, "GB-second (arm64)", LAMBDA);
/// CloudWatch Logs ingestion (Standard log class); EMF metric lines are log lines.
pub const LOG_INGESTION: Price = price(0.50, "GB ingested", CLOUDWATCH);
/// A custom metric (one name and dimension set), first 10,000 a month.
pub const CUSTOM_METRIC: Price = price(0.30, "metric-month", CLOUDWATCH);
/// SNS publishes (each 64 KB chunk; our notices are far smaller). The first million a month
/// are free; not counted here. Delivery is extra for e-mail and HTTP, free to SQS and Lambda.
pub const SNS_PUBLISH: Price = price(0.50 / 1e6, "publish", SNS);
/// IoT Core rules engine: one rule triggered plus one action, per event.
pub const IOT_RULE_AND_ACTION: Price = price(0.30 / 1e6, "rule triggered + action", IOT);

/// Where [`ITEM_OVERHEAD_BYTES`] is documented.
pub const ITEM_OVERHEAD_SOURCE: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html";

/// All of them, for the price list.
pub const ALL: [(&str, Price); 10] = [
    ("DynamoDB write", WRITE_UNIT),
    ("DynamoDB read", READ_UNIT),
    ("DynamoDB storage", STORAGE),
    ("DynamoDB point-in-time recovery", PITR),
    ("Lambda requests", LAMBDA_REQUEST),
    ("Lambda duration", LAMBDA_GB_SECOND),
    ("CloudWatch Logs ingestion", LOG_INGESTION),
    ("CloudWatch custom metric", CUSTOM_METRIC),
    ("SNS publish", SNS_PUBLISH),
    ("IoT rules engine", IOT_RULE_AND_ACTION),
];

/// An API Gateway HTTP API request (the first 300 million a month; $0.90 per million past
/// them), counted per 512 KB of answer: the HTTP presence API's (docs/api.md).
pub const HTTP_API_REQUEST: Price = price(1.00 / 1e6, "HTTP API request", API_GATEWAY);
