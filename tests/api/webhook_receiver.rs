//! A host's webhook receiver on loopback, for the tests and the delivery bench: it records every
//! delivery (headers and body), answers as the test scripts it (a status, `Retry-After`, a delay),
//! can go down (its port closed) and come back on the same port, and notices when one event is
//! being delivered twice at the same time.
// Shared with the delivery bench, which uses only part of it.
#![allow(dead_code)]

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};

/// One delivery as it arrived, and what the receiver answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: i64,
    pub headers: HeaderMap,
    pub body: String,
    pub status: u16,
    pub at: Instant,
}

impl Delivery {
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Verifies the delivery with the Standard Webhooks reference library; the body as JSON.
    pub fn verified(&self, secret: &str) -> serde_json::Value {
        standardwebhooks::Webhook::new(secret)
            .expect("a whsec_ secret")
            .verify(self.body.as_bytes(), &self.headers)
            .unwrap_or_else(|e| panic!("delivery {} does not verify: {e:?}", self.id));
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    /// Answers for the next deliveries, in order: status and `Retry-After` seconds.
    next: VecDeque<(u16, Option<u64>)>,
    delay: Duration,
    deliveries: Vec<Delivery>,
    in_flight: HashMap<String, u32>,
    overlaps: Vec<String>,
}

type Shared = Arc<Mutex<Script>>;

pub struct WebhookReceiver {
    address: SocketAddr,
    script: Shared,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

async fn receive(State(script): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let id = header("webhook-id");
    let delay = {
        let mut script = script.lock().unwrap();
        let count = script.in_flight.entry(id.clone()).or_default();
        *count += 1;
        if *count > 1 {
            script.overlaps.push(id.clone());
        }
        script.delay
    };
    tokio::time::sleep(delay).await;
    let mut script = script.lock().unwrap();
    if let Some(count) = script.in_flight.get_mut(&id) {
        *count -= 1;
    }
    let (status, retry_after) = script.next.pop_front().unwrap_or((204, None));
    script.deliveries.push(Delivery {
        timestamp: header("webhook-timestamp").parse().unwrap_or_default(),
        id,
        headers: headers.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
        at: Instant::now(),
    });
    let code = StatusCode::from_u16(status).expect("a status code");
    match retry_after {
        Some(secs) => (code, [("retry-after", secs.to_string())]).into_response(),
        None => code.into_response(),
    }
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = WebhookReceiver {
            address: listener.local_addr().unwrap(),
            script: Shared::default(),
            server: Mutex::new(None),
        };
        receiver.serve(listener);
        receiver
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(self.script.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap() = Some(task);
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.address)
    }

    /// Closes the port: deliveries meet a refused connection.
    pub fn go_down(&self) {
        if let Some(task) = self.server.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn come_back(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match tokio::net::TcpListener::bind(self.address).await {
                Ok(listener) => return self.serve(listener),
                Err(e) if Instant::now() > deadline => panic!("cannot listen on {} again: {e}", self.address),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The next deliveries get these answers (status, `Retry-After` seconds), in order.
    pub fn answer_next(&self, answers: &[(u16, Option<u64>)]) {
        self.script.lock().unwrap().next.extend(answers.iter().copied());
    }

    /// Each answer comes this long after the request.
    pub fn delay(&self, delay: Duration) {
        self.script.lock().unwrap().delay = delay;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.script.lock().unwrap().deliveries.clone()
    }

    /// Deliveries waiting for their answer now.
    pub fn in_flight(&self) -> u32 {
        self.script.lock().unwrap().in_flight.values().sum()
    }

    /// Ids that were being delivered twice at the same time.
    pub fn overlaps(&self) -> Vec<String> {
        self.script.lock().unwrap().overlaps.clone()
    }

    /// Waits until `n` deliveries were accepted; every delivery so far.
    pub async fn wait_for_accepted(&self, n: usize, limit: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + limit;
        loop {
            let all = self.deliveries();
            if all.iter().filter(|d| d.accepted()).count() >= n || Instant::now() > deadline {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
