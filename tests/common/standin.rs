//! A small HTTP/1.1 server on 127.0.0.1 for the AWS APIs no local server offers (CloudFormation
//! `DescribeStacks`, EventBridge `PutEvents` with refusals on demand): the test gives a function
//! from a request to an answer. It listens on a free port, keeps connections alive as the SDK
//! expects, and stops when dropped.
//!
//! Plain std networking, every loop bounded: at most [`MAX_CONNECTIONS`] connections, each at
//! most [`MAX_REQUESTS`] requests, headers and bodies at most [`MAX_BYTES`], and a read timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

const MAX_CONNECTIONS: u32 = 1_000;
const MAX_REQUESTS: u32 = 1_000;
const MAX_BYTES: usize = 1024 * 1024;
const MAX_HEADERS: usize = 100;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One request: its request line, headers and body.
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn is_post(&self) -> bool {
        self.line.starts_with("POST ")
    }
}

/// An answer: status, content type and body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

type Handler = dyn Fn(&Request) -> Answer + Send + Sync;

pub struct Server {
    /// `http://127.0.0.1:PORT`: the value for the service's `AWS_ENDPOINT_URL_*`.
    pub url: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and returns.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Server {
    pub fn start(answer: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let answer: Arc<Handler> = Arc::new(answer);
        let thread = std::thread::spawn(move || {
            for _ in 0..MAX_CONNECTIONS {
                let Ok((socket, _)) = listener.accept() else {
                    return;
                };
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let answer = answer.clone();
                // Detached: each connection ends at its client's close, its read timeout or
                // MAX_REQUESTS, and the process's end.
                std::thread::spawn(move || serve(socket, &*answer));
            }
        });
        Server {
            url,
            stop,
            thread: Some(thread),
        }
    }
}

fn serve(socket: TcpStream, answer: &Handler) {
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
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
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
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
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
        let request = Request {
            line: line.trim_end().to_owned(),
            headers,
            body,
        };
        let a = answer(&request);
        let response = format!(
            "HTTP/1.1 {} X\r\ncontent-type: {}\r\ncontent-length: {}\r\n\
             x-amzn-requestid: 6c1b8e6b-0000-4000-8000-000000000000\r\n\r\n{}",
            a.status,
            a.content_type,
            a.body.len(),
            a.body
        );
        if write.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
