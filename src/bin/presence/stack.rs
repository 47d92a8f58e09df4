//! `--stack NAME`: the deployed stack's outputs (CloudFormation `DescribeStacks`) as the values
//! the user would otherwise copy by hand: the table names, and `alert-pass`'s topic.
//!
//! The flags and their variables win: the stack is read only when a value the command needs is
//! missing, and then only that value is taken from it. The endpoint is the SDK's
//! (`AWS_ENDPOINT_URL_CLOUDFORMATION` for a stand-in; `--endpoint-url` is DynamoDB's alone).

use std::collections::BTreeMap;

use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use iot_presence::errors::{error_chain, shown};

use crate::Failure;

/// `--stack`'s variable.
pub const STACK_VAR: &str = "PRESENCE_STACK";

/// The outputs of template.yaml read here.
pub const STATUS_TABLE_OUTPUT: &str = "StatusTableName";
pub const EVENTS_TABLE_OUTPUT: &str = "EventsTableName";
pub const ALERT_TOPIC_OUTPUT: &str = "AlertTopicArn";
pub const FAILED_EVENTS_QUEUE_OUTPUT: &str = "FailedEventsQueueUrl";
pub const RULE_ERRORS_QUEUE_OUTPUT: &str = "RuleErrorsQueueUrl";
pub const CHANGES_FAILED_QUEUE_OUTPUT: &str = "ChangesFailedQueueUrl";

/// A stack name (at most 128 characters) or a stack id (its ARN, well under this).
const MAX_STACK_LEN: usize = 512;

/// `--stack`: not absurdly long, no control characters (it goes into messages). Empty is no
/// stack, as an empty `STATUS_TABLE_NAME` is no table.
pub fn parse_stack(text: &str) -> Result<String, String> {
    if text.len() > MAX_STACK_LEN {
        Err(format!(
            "it is {} bytes: a stack name or id is at most {MAX_STACK_LEN}",
            text.len()
        ))
    } else if text.chars().any(char::is_control) {
        Err(format!("{} holds control characters", shown(text)))
    } else {
        Ok(text.to_owned())
    }
}

/// One stack's outputs.
pub struct Stack {
    name: String,
    /// `CREATE_COMPLETE`, `ROLLBACK_COMPLETE`, ...: said when an output is missing.
    status: Option<String>,
    outputs: BTreeMap<String, String>,
}

impl Stack {
    /// The output `key`, or a usage error naming it, the stack, and the flag that would have
    /// given the value instead.
    pub fn output(&self, key: &str, flag: &str, var: &str) -> Result<String, Failure> {
        match self.outputs.get(key) {
            Some(value) if !value.is_empty() => Ok(value.clone()),
            _ => {
                let status = self
                    .status
                    .as_deref()
                    .map(|s| format!(" (stack status {s})"))
                    .unwrap_or_default();
                // `var` is empty for a value no variable gives (a queue's URL).
                let or_var = if var.is_empty() {
                    String::new()
                } else {
                    format!(" (or set {var})")
                };
                Err(Failure::Usage(format!(
                    "the stack {} has no output {key}{status}: is it an iot-presence stack, \
                     deployed completely? Or pass {flag}{or_var}",
                    shown(&self.name)
                )))
            }
        }
    }
}

/// The stack's outputs, by `DescribeStacks`. A stack that does not exist (in this region) and
/// one that lacks an output are usage errors (exit 2); CloudFormation out of reach or refusing
/// is exit 3, with what to check.
pub async fn describe(
    client: &aws_sdk_cloudformation::Client,
    name: &str,
) -> Result<Stack, Failure> {
    let region = client
        .config()
        .region()
        .map(|r| format!("in {r}"))
        .unwrap_or_else(|| "with no region set".to_owned());
    let out = client
        .describe_stacks()
        .stack_name(name)
        .send()
        .await
        .map_err(|err| failure(name, &region, &err))?;
    // One stack for a name; a stack id names one stack too.
    let Some(stack) = out.stacks().first() else {
        return Err(not_found(name, &region, "no stack in the answer"));
    };
    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
        .collect();
    Ok(Stack {
        name: name.to_owned(),
        status: stack.stack_status().map(|s| s.as_str().to_owned()),
        outputs,
    })
}

fn not_found(name: &str, region: &str, said: &str) -> Failure {
    Failure::Usage(format!(
        "the stack {} does not exist {region} (CloudFormation: {said}): check --stack (or \
         {STACK_VAR}) and the region (AWS_REGION)",
        shown(name)
    ))
}

fn failure<E>(name: &str, region: &str, err: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let chain = error_chain(err);
    let code = err.code().unwrap_or_default();
    let said = err.message().unwrap_or(&chain);
    // CloudFormation's answer for an unknown name: 400 ValidationError, "Stack with id NAME
    // does not exist".
    if code == "ValidationError" && said.contains("does not exist") {
        return not_found(name, region, said);
    }
    let stack = shown(name);
    if transient(err) {
        return Failure::Stack {
            message: format!(
                "CloudFormation could not be reached to read the stack {stack} {region} \
                 (transient: try again): {chain}"
            ),
            hint: "check the network and the region (AWS_REGION), or \
                   AWS_ENDPOINT_URL_CLOUDFORMATION; --status-table and --events-table need no \
                   CloudFormation",
        };
    }
    let hint = if code.contains("AccessDenied") {
        "the caller needs cloudformation:DescribeStacks on the stack; or pass --status-table and \
         --events-table"
    } else if chain.contains("credentials") || chain.contains("Credentials") {
        "configure AWS credentials (AWS_PROFILE, aws configure, or an instance role)"
    } else if chain.contains("region") {
        "set the region (AWS_REGION, or the profile's region)"
    } else {
        "see the cause above"
    };
    Failure::Stack {
        message: format!("could not read the stack {stack} {region}: {chain}"),
        hint,
    }
}

/// What a retry may fix: the network (connection refused or reset, a timeout), throttling
/// (CloudFormation's code is `Throttling`), a server error. Not a missing region or missing
/// credentials, which the SDK reports as dispatch failures too.
fn transient<E: ProvideErrorMetadata>(err: &SdkError<E>) -> bool {
    match err {
        SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || matches!(
                    service.err().code(),
                    Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded")
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_names_are_checked() {
        assert_eq!(parse_stack("iot-presence").as_deref(), Ok("iot-presence"));
        assert_eq!(parse_stack("").as_deref(), Ok(""));
        assert!(parse_stack(&"s".repeat(513))
            .unwrap_err()
            .contains("513 bytes"));
        assert!(parse_stack("a\u{1b}[2J").unwrap_err().contains("\\u{1b}"));
    }

    #[test]
    fn a_missing_output_is_named() {
        let stack = Stack {
            name: "iot-presence".into(),
            status: Some("ROLLBACK_COMPLETE".into()),
            outputs: BTreeMap::from([(EVENTS_TABLE_OUTPUT.to_owned(), "events".to_owned())]),
        };
        assert_eq!(
            stack
                .output(EVENTS_TABLE_OUTPUT, "--events-table", "EVENTS_TABLE_NAME")
                .ok(),
            Some("events".to_owned())
        );
        let Err(Failure::Usage(message)) =
            stack.output(STATUS_TABLE_OUTPUT, "--status-table", "STATUS_TABLE_NAME")
        else {
            panic!("not a usage error")
        };
        assert!(
            message.contains("no output StatusTableName")
                && message.contains("\"iot-presence\"")
                && message.contains("ROLLBACK_COMPLETE")
                && message.contains("--status-table"),
            "{message}"
        );
    }
}
