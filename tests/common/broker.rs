//! A local stand-in for the IoT data plane's `GetConnection` (`GET /connections/{clientId}`,
//! restJson1), which moto lacks. It listens on 127.0.0.1 on a free port, is scripted per test
//! (per client id: a queue of replies, then a standing reply), counts the calls, and stops when
//! dropped. The SDK reaches it through its endpoint override, signing as it would for AWS.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted reply.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this `GetConnection` body.
    Answer(Value),
    /// An error status with its `x-amzn-ErrorType` (e.g. 429 `ThrottlingException`).
    Error(u16, &'static str),
    /// No answer for this long (longer than the caller's timeout: a timeout).
    Hang(Duration),
    /// This reply, after a pause (leaves room for a racing write).
    Slow(Duration, Box<Reply>),
}

impl Reply {
    pub fn connected(since: u64) -> Reply {
        Reply::Answer(
            json!({"connected": true, "connectedSince": since, "cleanSession": false,
            "sessionExpiry": 3600, "keepAliveDuration": 60, "thingName": "thing-1"}),
        )
    }

    pub fn disconnected(since: Option<u64>, reason: &str) -> Reply {
        let mut body = json!({"connected": false, "disconnectReason": reason,
            "cleanSession": true, "sessionExpiry": 0, "keepAliveDuration": 30});
        if let Some(since) = since {
            body["disconnectedSince"] = json!(since);
        }
        Reply::Answer(body)
    }

    pub fn throttled() -> Reply {
        Reply::Error(429, "ThrottlingException")
    }
}

#[derive(Default)]
struct Script {
    queued: HashMap<String, VecDeque<Reply>>,
    standing: HashMap<String, Reply>,
    /// For clients with no script of their own (otherwise 404).
    otherwise: Option<Reply>,
    calls: HashMap<String, u32>,
}

pub struct StandIn {
    pub url: String,
    script: Arc<Mutex<Script>>,
    task: JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    pub async fn start() -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = script.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        StandIn { url, script, task }
    }

    /// The reply for every call about `client_id` (after any queued ones).
    pub fn always(&self, client_id: &str, reply: Reply) {
        let mut script = self.script.lock().unwrap();
        script.standing.insert(client_id.to_owned(), reply);
    }

    /// The reply for every client without a script of its own (instead of 404).
    pub fn otherwise(&self, reply: Reply) {
        self.script.lock().unwrap().otherwise = Some(reply);
    }

    /// Replies for the next calls about `client_id`, in order.
    pub fn then(&self, client_id: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut script = self.script.lock().unwrap();
        script
            .queued
            .entry(client_id.to_owned())
            .or_default()
            .extend(replies);
    }

    /// How many calls asked about `client_id`.
    pub fn calls(&self, client_id: &str) -> u32 {
        let script = self.script.lock().unwrap();
        script.calls.get(client_id).copied().unwrap_or(0)
    }

    /// An SDK client that talks to this stand-in.
    pub fn client(&self, timeout: Duration) -> aws_sdk_iotdataplane::Client {
        let config = aws_sdk_iotdataplane::config::Builder::from(&super::local::sdk_config())
            .endpoint_url(&self.url)
            // One attempt a call: the tests script throttling for the reconciler's own backoff.
            .retry_config(
                aws_sdk_iotdataplane::config::retry::RetryConfig::standard().with_max_attempts(1),
            )
            .timeout_config(
                aws_sdk_iotdataplane::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(timeout)
                    .build(),
            )
            .build();
        aws_sdk_iotdataplane::Client::from_conf(config)
    }
}

/// The answer names the client it is about, as GetConnection's does.
fn stamp(reply: Reply, id: &str) -> Reply {
    match reply {
        Reply::Answer(mut body) => {
            body["clientId"] = json!(id);
            Reply::Answer(body)
        }
        Reply::Slow(pause, reply) => Reply::Slow(pause, Box::new(stamp(*reply, id))),
        other => other,
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn serve(socket: tokio::net::TcpStream, script: Arc<Mutex<Script>>) {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    // Keep-alive: one request after another on the connection, until it closes.
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut content_length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        if content_length > 0 {
            let mut body = vec![0; content_length];
            if tokio::io::AsyncReadExt::read_exact(&mut reader, &mut body)
                .await
                .is_err()
            {
                return;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let path = path.split('?').next().unwrap_or(path);
        let reply = match path.strip_prefix("/connections/") {
            Some(id) => {
                let id = percent_decode(id);
                let mut script = script.lock().unwrap();
                *script.calls.entry(id.clone()).or_default() += 1;
                let queued = script.queued.get_mut(&id).and_then(VecDeque::pop_front);
                queued
                    .or_else(|| script.standing.get(&id).cloned())
                    .or_else(|| script.otherwise.clone())
                    .map(|reply| stamp(reply, &id))
                    .unwrap_or(Reply::Error(404, "ResourceNotFoundException"))
            }
            None => Reply::Error(400, "InvalidRequestException"),
        };
        let reply = match reply {
            Reply::Slow(pause, reply) => {
                tokio::time::sleep(pause).await;
                *reply
            }
            other => other,
        };
        let (status, error_type, body) = match reply {
            Reply::Answer(body) => (200, None, body.to_string()),
            Reply::Error(status, kind) => (
                status,
                Some(kind),
                json!({"message": format!("stand-in says {kind}")}).to_string(),
            ),
            Reply::Hang(d) => {
                tokio::time::sleep(d).await;
                return;
            }
            Reply::Slow(..) => unreachable!("unwrapped above"),
        };
        let mut response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if let Some(kind) = error_type {
            response.push_str(&format!("x-amzn-errortype: {kind}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if write.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
