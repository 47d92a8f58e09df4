//! A local stand-in for CloudFormation's `DescribeStacks` (the AWS query protocol), which no
//! local server here offers: `presence --stack` reads a stack's outputs through it. It listens
//! on 127.0.0.1 on a free port, answers from the stacks it was given (name → outputs), counts
//! the calls, and stops when dropped. The SDK reaches it through
//! `AWS_ENDPOINT_URL_CLOUDFORMATION`, signing as it would for AWS, and parses its answers with
//! its own deserializer: the XML is the shape the SDK reads (`DescribeStacksResponse/
//! DescribeStacksResult/Stacks/member/Outputs/member/{OutputKey,OutputValue}`; an unknown stack
//! is 400 with an `ErrorResponse`, code `ValidationError`, as AWS answers).
//! Served by [`super::standin::Server`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use super::standin::{Answer, Server};

/// A stack: its name, status and outputs (key → value).
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub status: &'static str,
    pub outputs: BTreeMap<String, String>,
}

impl Stack {
    pub fn new<'a>(name: &str, outputs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Stack {
        Stack {
            name: name.to_owned(),
            status: "CREATE_COMPLETE",
            outputs: outputs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

pub struct StandIn {
    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_CLOUDFORMATION`.
    pub url: String,
    calls: Arc<AtomicU32>,
    _server: Server,
}

impl StandIn {
    pub fn start(stacks: impl IntoIterator<Item = Stack>) -> StandIn {
        let stacks: BTreeMap<String, Stack> = stacks
            .into_iter()
            .map(|stack| (stack.name.clone(), stack))
            .collect();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        let server = Server::start(move |request| {
            let (status, body) = if request.is_post() {
                answer(&String::from_utf8_lossy(&request.body), &stacks, &counted)
            } else {
                (405, error_xml("MethodNotAllowed", "POST only"))
            };
            Answer {
                status,
                content_type: "text/xml",
                body,
            }
        });
        StandIn {
            url: server.url.clone(),
            calls,
            _server: server,
        }
    }

    /// How many `DescribeStacks` calls it answered (found or not).
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

const NAMESPACE: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";
const REQUEST_ID: &str = "6c1b8e6b-0000-4000-8000-000000000000";

/// The `DescribeStacks` answer for one stack, as AWS writes it (fields the SDK reads, plus a
/// few it skips).
fn describe_stacks_xml(stack: &Stack) -> String {
    let mut outputs = String::new();
    for (key, value) in &stack.outputs {
        outputs.push_str(&format!(
            "<member><OutputKey>{}</OutputKey><OutputValue>{}</OutputValue>\
             <Description>stand-in</Description></member>",
            xml_escape(key),
            xml_escape(value)
        ));
    }
    let name = xml_escape(&stack.name);
    format!(
        "<DescribeStacksResponse xmlns=\"{NAMESPACE}\">\n  <DescribeStacksResult>\n    \
         <Stacks>\n      <member>\n        \
         <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/\
         0a1b2c3d-0000-4000-8000-000000000000</StackId>\n        \
         <StackName>{name}</StackName>\n        \
         <CreationTime>2025-11-21T08:00:00.123Z</CreationTime>\n        \
         <StackStatus>{}</StackStatus>\n        \
         <DisableRollback>false</DisableRollback>\n        \
         <NotificationARNs/>\n        \
         <Capabilities><member>CAPABILITY_IAM</member></Capabilities>\n        \
         <Outputs>{outputs}</Outputs>\n        \
         <Tags/>\n        \
         <DriftInformation><StackDriftStatus>NOT_CHECKED</StackDriftStatus></DriftInformation>\n      \
         </member>\n    </Stacks>\n  </DescribeStacksResult>\n  \
         <ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata>\n\
         </DescribeStacksResponse>\n",
        stack.status
    )
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>Sender</Type>\n    \
         <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
         <RequestId>{REQUEST_ID}</RequestId>\n</ErrorResponse>\n",
        xml_escape(code),
        xml_escape(message)
    )
}

/// The status and body for one request body.
fn answer(body: &str, stacks: &BTreeMap<String, Stack>, calls: &AtomicU32) -> (u16, String) {
    let params = super::relay::form_fields(body);
    let get = |k: &str| params.get(k).map(String::as_str);
    if get("Action") != Some("DescribeStacks") || get("Version") != Some("2010-05-15") {
        let message = format!("the stand-in answers DescribeStacks only, not {params:?}");
        return (400, error_xml("InvalidAction", &message));
    }
    calls.fetch_add(1, Ordering::SeqCst);
    let Some(name) = get("StackName") else {
        // Every stack: the tests name one.
        return (
            400,
            error_xml("ValidationError", "the stand-in needs a StackName"),
        );
    };
    match stacks.get(name) {
        Some(stack) => (200, describe_stacks_xml(stack)),
        None => (
            400,
            error_xml(
                "ValidationError",
                &format!("Stack with id {name} does not exist"),
            ),
        ),
    }
}
