//! Shared by the integration tests: the local DynamoDB server and tables (`local`), an alerting
//! fixture (`alerting`), a GetConnection stand-in (`broker`), a DescribeStacks stand-in
//! (`cloudformation`), a relay that holds requests or loses answers (`relay`), and generated
//! true histories of lifecycle events (`history`). Each test binary uses a part.
#![allow(dead_code)]

pub mod alerting;
pub mod broker;
pub mod cloudformation;
pub mod fleet;
pub mod history;
pub mod local;
pub mod relay;
// It runs the `presence` binary, which exists with the `cli` feature only.
#[cfg(feature = "cli")]
pub mod storm;
