//! A fleet written through the real ingest handler, and the API function over its tables.
#![allow(dead_code)]

use iot_presence::api::HttpResponse;
use iot_presence::config::{Config, StormSettings};
use iot_presence::functions::api::{answer, Api};
use iot_presence::functions::ingest::handle;
use iot_presence::rule::Window;
use iot_presence::store::Store;
use serde_json::{json, Value};

use super::common::local::{self, Tables};
use super::support::{event, template_of, OpenApi};

pub const MINUTE: u64 = 60_000;

pub fn connect_event(client: &str, session: &str, version: u64, ts: u64) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "connected",
           "sessionIdentifier": session, "versionNumber": version,
           "principalIdentifier": "cert-1", "ipAddress": "198.51.100.7"})
}

pub fn disconnect_event(client: &str, session: &str, version: u64, ts: u64, reason: &str) -> Value {
    json!({"clientId": client, "timestamp": ts, "eventType": "disconnected",
           "sessionIdentifier": session, "versionNumber": version,
           "clientInitiatedDisconnect": false, "disconnectReason": reason})
}

/// Tables on the local server, the ingest store that writes them, and the API over them.
pub struct Fixture {
    pub client: aws_sdk_dynamodb::Client,
    pub tables: Tables,
    pub ingest: Store,
    pub api: Api,
    pub openapi: OpenApi,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let client = local::client();
        let tables = local::create_tables().await;
        let ingest = local::store(&client, &tables, Window::DEFAULT);
        let config = Config::with_tables(&tables.status, &tables.events);
        // The function's own store: narrowed to the attributes its role may read.
        let store = iot_presence::functions::api::store(&client, &config);
        let api = Api::new(store, &config, StormSettings::DEFAULT);
        Fixture {
            client,
            tables,
            ingest,
            api,
            openapi: OpenApi::load(),
        }
    }

    /// One lifecycle event through the real handler, received at `now`.
    pub async fn send(&self, event: Value, now: u64) {
        handle(&self.ingest, &event.to_string(), now)
            .await
            .expect("handled");
    }

    /// `method target` through the API function at `now`; the answer is checked against
    /// docs/openapi.yaml before it is returned.
    pub async fn call(&mut self, method: &str, target: &str, now: u64) -> HttpResponse {
        let response = answer(&self.api, event(method, target), now).await;
        let path = target.split('?').next().unwrap();
        let template = template_of(path).filter(|_| response.status_code != 405);
        // A path no route has answers 404 from the shared response.
        let template = if response.status_code == 404 && template.is_none() {
            None
        } else {
            template
        };
        self.openapi
            .check(template, &response)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"));
        response
    }

    /// `GET target`: 200 and its body.
    pub async fn get(&mut self, target: &str, now: u64) -> Value {
        let response = self.call("GET", target, now).await;
        assert_eq!(response.status_code, 200, "{target}: {}", response.body);
        serde_json::from_str(&response.body).unwrap()
    }
}

/// The fleet of tests/cli.rs: 12 connected clients, 9 disconnected at known offline
/// durations, and one client with a long history (five sessions, a redelivery, a stale copy).
pub async fn cli_fleet(f: &Fixture, now: u64) {
    for i in 0..12 {
        let id = format!("online-{i:02}");
        f.send(
            connect_event(&id, &format!("{id}-s1"), 1, now - (i + 1) * MINUTE),
            now,
        )
        .await;
    }
    let offline = [
        (1, "CONNECTION_LOST"),
        (3, "CONNECTION_LOST"),
        (20, "MQTT_KEEP_ALIVE_TIMEOUT"),
        (50, "CONNECTION_LOST"),
        (180, "CLIENT_INITIATED_DISCONNECT"),
        (600, "DUPLICATE_CLIENTID"),
        (2_000, "CONNECTION_LOST"),
        (3_000, "SERVER_INITIATED_DISCONNECT"),
        (20_000, "AUTH_ERROR"),
    ];
    for (i, (minutes, reason)) in offline.into_iter().enumerate() {
        let id = format!("offline-{i:02}");
        let since = now - minutes * MINUTE;
        f.send(connect_event(&id, "s1", 4, since - 10 * MINUTE), now)
            .await;
        f.send(disconnect_event(&id, "s1", 4, since, reason), now)
            .await;
    }
    let base = now - 500 * MINUTE;
    for k in 0..5u64 {
        let session = format!("hist-s{k}");
        let at = base + k * 30 * MINUTE;
        f.send(connect_event("historian", &session, 10 + k, at), now)
            .await;
        f.send(
            disconnect_event(
                "historian",
                &session,
                10 + k,
                at + 10 * MINUTE,
                "CONNECTION_LOST",
            ),
            now,
        )
        .await;
    }
    f.send(
        connect_event("historian", "hist-s1", 11, base + 30 * MINUTE),
        now,
    )
    .await;
    f.send(connect_event("historian", "hist-s0", 10, base + 5), now)
        .await;
}
