//! A relay on 127.0.0.1 in front of the local server, which lets a test act on each request:
//! hold it ([`super::alerting::PublishGate`]) or lose its answer ([`LossyLink`]). Plain std
//! networking on its own threads (the tests' tokio has no `net` feature).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::local;

/// One request as the SDK sent it.
pub struct Request {
    pub head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The first attempt of an operation (the SDK numbers its retries in `amz-sdk-request`).
    pub fn is_first_attempt(&self) -> bool {
        self.header("amz-sdk-request")
            .is_some_and(|v| v.starts_with("attempt=1;"))
    }
}

/// What the relay does with a request, after the test's look at it.
pub enum Verdict {
    /// Pass it on and relay the answer.
    Forward,
    /// Pass it on, so the server acts on it, then close the connection without an answer: the
    /// SDK sees a reset connection and retries.
    LoseAnswer,
}

pub struct Relay {
    pub url: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Relay {
    /// Starts relaying to `upstream` (a local server's `http://` endpoint); `look` decides each
    /// request's fate (and may block, which holds the request).
    pub fn start(
        upstream: &str,
        look: impl Fn(&Request) -> Verdict + Send + Sync + 'static,
    ) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let upstream = upstream
            .strip_prefix("http://")
            .expect("the local server speaks plain http")
            .to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let look = Arc::new(look);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (look, upstream) = (look.clone(), upstream.clone());
                std::thread::spawn(move || {
                    if let Err(err) = relay(conn, &upstream, &*look) {
                        eprintln!("relay: {err}");
                    }
                });
            }
        });
        Relay {
            url: format!("http://{addr}"),
            addr,
            stop,
        }
    }
}

impl Drop for Relay {
    /// Stops the accept loop: set the flag, then wake the blocked `accept` with one connection.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// One request: read it whole (head, then a `Content-Length` body), let the test look, pass it
/// to the local server and relay its answer. The request goes upstream with `Connection:
/// close` (a server may keep connections alive; moto closes them anyway, dynoxide does not),
/// so the server closes the connection after its answer, the SDK sees that header too, and
/// reading the answer to its end is the whole answer: one request per connection.
fn relay(
    conn: TcpStream,
    upstream: &str,
    look: &(dyn Fn(&Request) -> Verdict + Send + Sync),
) -> std::io::Result<()> {
    let limit = Some(Duration::from_secs(30));
    conn.set_read_timeout(limit)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // closed before a full request: nothing to forward
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(std::io::Error::other)?;
            }
            if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(std::io::Error::other("chunked requests are not supported"));
            }
        }
        if line == "\r\n" {
            head.push_str("connection: close\r\n\r\n");
            break;
        }
        let hop = line
            .split_once(':')
            .is_some_and(|(name, _)| name.eq_ignore_ascii_case("connection"));
        if !hop {
            head.push_str(&line);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let request = Request { head, body };
    let verdict = look(&request);
    let mut server = TcpStream::connect(upstream)?;
    server.set_read_timeout(limit)?;
    server.write_all(request.head.as_bytes())?;
    server.write_all(&request.body)?;
    let mut answer = Vec::new();
    server.read_to_end(&mut answer)?;
    match verdict {
        Verdict::Forward => {
            let mut conn = conn;
            conn.write_all(&answer)
        }
        Verdict::LoseAnswer => conn.shutdown(std::net::Shutdown::Both),
    }
}

/// A DynamoDB endpoint that loses the answer to the first attempt of every `UpdateItem` whose
/// body contains `marker` (once the server has applied it), and counts how many it lost. Point
/// a store at [`LossyLink::url`] to see what a client does when its own write refuses its retry.
pub struct LossyLink {
    pub url: String,
    lost: Arc<AtomicU64>,
    _relay: Relay,
}

impl LossyLink {
    pub fn start(marker: &'static str) -> LossyLink {
        let lost = Arc::new(AtomicU64::new(0));
        let counter = lost.clone();
        let relay = Relay::start(local::endpoint(), move |request| {
            let update = request
                .header("x-amz-target")
                .is_some_and(|t| t.ends_with(".UpdateItem"));
            let marked = String::from_utf8_lossy(&request.body).contains(marker);
            if update && marked && request.is_first_attempt() {
                counter.fetch_add(1, Ordering::SeqCst);
                Verdict::LoseAnswer
            } else {
                Verdict::Forward
            }
        });
        LossyLink {
            url: relay.url.clone(),
            lost,
            _relay: relay,
        }
    }

    /// Answers lost so far.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::SeqCst)
    }

    /// A DynamoDB client through this link.
    pub fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&local::sdk_config())
            .endpoint_url(&self.url)
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }
}

/// The fields of an `application/x-www-form-urlencoded` body (the AWS query protocol: SNS, CloudFormation).
pub fn form_fields(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
