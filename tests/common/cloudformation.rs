//! A local stand-in for CloudFormation's `DescribeStacks` (the AWS query protocol), which no
//! local server here offers: `presence --stack` reads a stack's outputs through it. It listens
//! on 127.0.0.1 on a free port, answers from the stacks it was given (name → outputs), counts
//! the calls, and stops when dropped. The SDK reaches it through
//! `AWS_ENDPOINT_URL_CLOUDFORMATION`, signing as it would for AWS, and parses its answers with
//! its own deserializer: the XML is the shape the SDK reads (`DescribeStacksResponse/
//! DescribeStacksResult/Stacks/member/Outputs/member/{OutputKey,OutputValue}`; an unknown stack
//! is 400 with an `ErrorResponse`, code `ValidationError`, as AWS answers).
//!
//! Plain std networking, every loop bounded: at most [`MAX_CONNECTIONS`] connections, each at
//! most [`MAX_REQUESTS`] requests, headers and bodies at most [`MAX_BYTES`], and a read timeout.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_CONNECTIONS: u32 = 1_000;
const MAX_REQUESTS: u32 = 1_000;
const MAX_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

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
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and returns.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl StandIn {
    pub fn start(stacks: impl IntoIterator<Item = Stack>) -> StandIn {
        let stacks: Arc<BTreeMap<String, Stack>> = Arc::new(
            stacks
                .into_iter()
                .map(|stack| (stack.name.clone(), stack))
                .collect(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicU32::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (counted, stopping) = (calls.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((socket, _)) = listener.accept() else {
                    return;
                };
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let (stacks, counted) = (stacks.clone(), counted.clone());
                // Detached: each connection ends at its client's close, its read timeout or
                // MAX_REQUESTS, and the process's end.
                std::thread::spawn(move || serve(socket, &stacks, &counted));
            }
        });
        StandIn {
            url,
            calls,
            stop,
            thread: Some(thread),
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

fn serve(socket: TcpStream, stacks: &BTreeMap<String, Stack>, calls: &AtomicU32) {
    if socket.set_read_timeout(Some(READ_TIMEOUT)).is_err() {
        return;
    }
    let Ok(mut write) = socket.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(socket.take(u64::MAX));
    // Keep-alive: one request after another on the connection, until it closes.
    for _ in 0..MAX_REQUESTS {
        // Each request may read at most MAX_BYTES of headers and MAX_BYTES of body.
        reader.get_mut().set_limit(MAX_BYTES as u64);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        let mut ended = false;
        for _ in 0..MAX_HEADERS {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                ended = true;
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(usize::MAX);
                }
            }
        }
        if !ended || content_length > MAX_BYTES {
            let _ = write
                .write_all(b"HTTP/1.1 413 X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            return;
        }
        reader.get_mut().set_limit(content_length as u64);
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let post = request_line.starts_with("POST ");
        let (status, body) = if post {
            answer(&String::from_utf8_lossy(&body), stacks, calls)
        } else {
            (405, error_xml("MethodNotAllowed", "POST only"))
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
             x-amzn-requestid: {REQUEST_ID}\r\n\r\n{body}",
            body.len()
        );
        if write.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
