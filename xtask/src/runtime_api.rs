//! A fake Lambda Runtime API on 127.0.0.1 for the benchmark: it hands out queued events, notes
//! the first poll (the moment Lambda considers init done) and collects the answers.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::{self, Reply, Request};
use crate::Result;

#[derive(Default)]
struct State {
    first_poll_at: Option<Instant>,
    queue: VecDeque<String>,
    expected: usize,
    responses: Vec<Vec<u8>>,
    errors: Vec<Vec<u8>>,
    stopping: bool,
    request_id: u64,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    state: Arc<(Mutex<State>, Condvar)>,
}

impl RuntimeApi {
    /// Starts serving; returns the API and its port.
    pub fn start() -> Result<(Self, u16)> {
        let api = RuntimeApi::default();
        let served = api.clone();
        let port = http::serve(move |r| served.handle(r))?;
        Ok((api, port))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reset(&self, events: Vec<String>) {
        let mut s = self.lock();
        s.first_poll_at = None;
        s.expected = events.len();
        s.queue = events.into();
        s.responses.clear();
        s.errors.clear();
    }

    /// Waits for the first poll since the last reset.
    pub fn first_poll(&self, timeout: Duration) -> Option<Instant> {
        let (lock, cvar) = &*self.state;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |s| s.first_poll_at.is_none())
            .unwrap_or_else(|e| e.into_inner());
        guard.first_poll_at
    }

    /// Waits until every queued event has an answer; true if they all came in time.
    pub fn wait_done(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.state;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |s| {
                s.responses.len() + s.errors.len() < s.expected
            })
            .unwrap_or_else(|e| e.into_inner());
        guard.responses.len() + guard.errors.len() >= guard.expected
    }

    pub fn answers(&self) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let s = self.lock();
        (s.responses.clone(), s.errors.clone())
    }

    /// Releases the held polls.
    pub fn stop(&self) {
        self.lock().stopping = true;
        self.state.1.notify_all();
    }

    fn handle(&self, r: Request) -> Reply {
        let (lock, cvar) = &*self.state;
        let reply = |status, body: &[u8]| Reply {
            status,
            headers: Vec::new(),
            body: body.to_vec(),
        };
        if r.method == "GET" && r.path.ends_with("/runtime/invocation/next") {
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            if s.first_poll_at.is_none() {
                s.first_poll_at = Some(Instant::now());
                cvar.notify_all();
            }
            let Some(event) = s.queue.pop_front() else {
                // Nothing to do: hold the poll, as Lambda freezes an idle function. Bounded, so
                // that a forgotten stop() cannot keep a thread forever.
                let _ = cvar
                    .wait_timeout_while(s, Duration::from_secs(900), |s| !s.stopping)
                    .unwrap_or_else(|e| e.into_inner());
                return reply(503, b"");
            };
            s.request_id += 1;
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 10_000;
            return Reply {
                status: 200,
                headers: vec![
                    (
                        "Lambda-Runtime-Aws-Request-Id".into(),
                        format!("bench-{}", s.request_id),
                    ),
                    ("Lambda-Runtime-Deadline-Ms".into(), deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn".into(),
                        "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id".into(),
                        "Root=1-00000000-000000000000000000000000".into(),
                    ),
                    ("Content-Type".into(), "application/json".into()),
                ],
                body: event.into_bytes(),
            };
        }
        if r.method == "POST" {
            let mut s = lock.lock().unwrap_or_else(|e| e.into_inner());
            if r.path.ends_with("/response") {
                s.responses.push(r.body);
            } else {
                s.errors.push(r.body);
            }
            cvar.notify_all();
            return reply(202, b"{}");
        }
        reply(404, b"")
    }
}
