//! Shared by the integration tests: the local DynamoDB server and tables (`local`), an alerting
//! fixture (`alerting`), a GetConnection stand-in (`broker`), a DescribeStacks stand-in
//! (`cloudformation`), a relay that holds requests or loses answers (`relay`), the small HTTP server the stand-ins share (`standin`), and generated
//! true histories of lifecycle events (`history`). Each test binary uses a part.
#![allow(dead_code)]

pub mod alerting;
pub mod broker;
pub mod cloudformation;
pub mod eventbridge;
pub mod fleet;
pub mod history;
pub mod local;
pub mod relay;
pub mod standin;
pub mod stream;
// It runs the `presence` binary, which exists with the `cli` feature only.
#[cfg(feature = "cli")]
pub mod storm;
