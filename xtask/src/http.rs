//! Just enough HTTP/1.1 for the tooling, over std sockets: a POST client (the Lambda Invoke API
//! of `cargo lambda watch` / `sam local start-lambda`) and a small server (a fake Lambda Runtime
//! API for the benchmark). Loopback traffic only; every read and write has a timeout.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::Result;

pub struct Response {
    pub status: u16,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

fn read_head(reader: &mut impl BufRead) -> Result<Option<(String, HashMap<String, String>)>> {
    let mut first = String::new();
    if reader.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err("connection closed inside the headers".into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok(Some((first.trim_end().to_owned(), headers)))
}

fn read_body(reader: &mut impl BufRead, headers: &HashMap<String, String>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    if let Some(length) = headers.get("content-length") {
        let length: usize = length.parse()?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)?;
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// POSTs a JSON body to `url` (http://host:port/path) and returns the whole response.
pub fn post(url: &str, body: &[u8], timeout: Duration) -> Result<Response> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {url}"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let address = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{authority} does not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .map_err(|e| format!("connect to {authority}: {e}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let path = if path.is_empty() { "/" } else { path };
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut reader = BufReader::new(stream);
    let (status_line, headers) =
        read_head(&mut reader)?.ok_or_else(|| format!("{url}: no response"))?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: bad status line {status_line:?}"))?;
    let body = read_body(&mut reader, &headers)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Serves `handle` on 127.0.0.1 (an ephemeral port, returned), a thread per connection, with
/// keep-alive (the Lambda runtime client reuses its connection).
pub fn serve<F>(handle: F) -> Result<u16>
where
    F: Fn(Request) -> Reply + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let handle = Arc::clone(&handle);
            std::thread::spawn(move || {
                // A measured process is killed mid-request on purpose: its broken connection
                // is no news, so errors end the connection quietly.
                let _ = connection(stream, &*handle);
            });
        }
    });
    Ok(port)
}

fn connection(stream: TcpStream, handle: &dyn Fn(Request) -> Reply) -> Result {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some((line, headers)) = read_head(&mut reader)? {
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_owned();
        let path = parts.next().unwrap_or("").to_owned();
        let body = if headers.contains_key("content-length") {
            read_body(&mut reader, &headers)?
        } else {
            Vec::new()
        };
        let reply = handle(Request { method, path, body });
        let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
        for (k, v) in &reply.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
        writer.write_all(head.as_bytes())?;
        writer.write_all(&reply.body)?;
        writer.flush()?;
    }
    Ok(())
}
