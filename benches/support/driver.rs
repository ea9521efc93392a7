//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending the next request
//! as soon as the previous answer is read and checked. Every body is parsed and judged, so an
//! error inside a 200 answer counts as an error.
#![allow(dead_code)] // each bench uses part of this file

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The body of the `i`-th request of a load; None ends the run early.
pub type Load = Arc<dyn Fn(u64) -> Option<Bytes> + Send + Sync>;

/// Judges one answer: `Err` with a short reason when it is not what the operation must return.
pub type Check = fn(&serde_json::Value) -> Result<(), String>;

/// What one run measured.
#[derive(Debug, Default)]
pub struct Run {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Latency of every answered request, in microseconds.
    pub latencies_us: Vec<u32>,
    pub elapsed: Duration,
}

impl Run {
    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn rate(&self) -> f64 {
        self.requests() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() - 1) as f64 * p).round() as usize;
        f64::from(sorted[index]) / 1000.0
    }
}

/// Sends `next(i)` bodies (None ends the run early) to `url` from `connections` connections for
/// `duration`, checking each answer with `check`.
pub async fn run(port: u16, connections: usize, duration: Duration, next: Load, check: Check) -> Run {
    run_paced(port, connections, duration, Duration::ZERO, next, check).await
}

/// As `run`, but each connection starts a request at most once per `gap`: a probe of fixed
/// rate (`connections / gap`) that measures latency without adding load of its own.
pub async fn run_paced(
    port: u16,
    connections: usize,
    duration: Duration,
    gap: Duration,
    next: Load,
    check: Check,
) -> Run {
    let [run] = run_classes(port, connections, duration, gap, None, [next], check).await;
    run
}

/// As `run_paced`, every request carrying `Authorization: Bearer <bearer>` (a signed-in member's
/// session; a zero `gap` is a closed loop).
pub async fn run_signed_in(
    port: u16,
    connections: usize,
    duration: Duration,
    gap: Duration,
    bearer: &str,
    next: Load,
    check: Check,
) -> Run {
    let authorization = Some(Arc::<str>::from(format!("Bearer {bearer}")));
    let [run] = run_classes(port, connections, duration, gap, authorization, [next], check).await;
    run
}

/// Several loads in one run, connection by connection in turn (connection `n` sends class
/// `n % K`'s requests): each class gets every K-th connection, spawned and served interleaved
/// with the others', so the figures of two classes differ only by how the service treats them.
pub async fn run_interleaved<const K: usize>(
    port: u16,
    connections: usize,
    duration: Duration,
    loads: [Load; K],
    check: Check,
) -> [Run; K] {
    run_classes(port, connections, duration, Duration::ZERO, None, loads, check).await
}

async fn run_classes<const K: usize>(
    port: u16,
    connections: usize,
    duration: Duration,
    gap: Duration,
    authorization: Option<Arc<str>>,
    loads: [Load; K],
    check: Check,
) -> [Run; K] {
    let counters: [Arc<AtomicU64>; K] = std::array::from_fn(|_| Arc::new(AtomicU64::new(0)));
    let exhausted = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let next = loads[n % K].clone();
            let counter = counters[n % K].clone();
            let exhausted = exhausted.clone();
            let authorization = authorization.clone();
            let task = tokio::spawn(async move {
                let mut run = Run::default();
                let mut sender = None;
                while Instant::now() < deadline && !exhausted.load(Ordering::Relaxed) {
                    let Some(body) = next(counter.fetch_add(1, Ordering::Relaxed)) else {
                        exhausted.store(true, Ordering::Relaxed);
                        break;
                    };
                    if sender.is_none() {
                        sender = connect(port).await;
                    }
                    let Some(s) = sender.as_mut() else {
                        note_error(&mut run, "connect failed".into());
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    let t = Instant::now();
                    let answered = send(s, body, authorization.as_deref()).await;
                    let took = t.elapsed();
                    if !gap.is_zero() {
                        tokio::time::sleep_until((t + gap).into()).await;
                    }
                    match answered {
                        Ok(answer) => {
                            run.latencies_us
                                .push(took.as_micros().min(u32::MAX as u128) as u32);
                            match serde_json::from_slice::<serde_json::Value>(&answer)
                                .map_err(|e| format!("not JSON: {e}"))
                                .and_then(|v| check(&v).map_err(|e| format!("{e}: {v}")))
                            {
                                Ok(()) => run.ok += 1,
                                Err(e) => note_error(&mut run, e),
                            }
                        }
                        Err(e) => {
                            sender = None;
                            note_error(&mut run, e);
                        }
                    }
                }
                run
            });
            (n % K, task)
        })
        .collect();
    let mut totals: [Run; K] = std::array::from_fn(|_| Run::default());
    for (class, task) in tasks {
        let run = task.await.expect("load task");
        let total = &mut totals[class];
        total.ok += run.ok;
        total.errors += run.errors;
        total.first_error = total.first_error.take().or(run.first_error);
        total.latencies_us.extend(run.latencies_us);
    }
    let elapsed = started.elapsed();
    for total in &mut totals {
        total.elapsed = elapsed;
    }
    totals
}

fn note_error(run: &mut Run, e: String) {
    run.errors += 1;
    if run.first_error.is_none() {
        run.first_error = Some(e.chars().take(300).collect());
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16) -> Option<Sender> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn send(sender: &mut Sender, body: Bytes, authorization: Option<&str>) -> Result<Bytes, String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let mut request = Request::post("/graphql")
        .header("host", "127.0.0.1")
        .header("content-type", "application/json");
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes)));
    }
    Ok(bytes)
}

/// A GraphQL POST body.
pub fn body(query: &str, variables: serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(&serde_json::json!({"query": query, "variables": variables})).unwrap())
}

/// No top-level error, and `data.<field>.errors` empty.
pub fn payload_ok(v: &serde_json::Value, field: &str) -> Result<(), String> {
    if let Some(errors) = v.get("errors") {
        return Err(format!("top-level errors {errors}"));
    }
    match v["data"][field]["errors"].as_array() {
        Some(errors) if errors.is_empty() => Ok(()),
        Some(_) => Err("user errors".into()),
        None => Err("no payload".into()),
    }
}

/// An `issueResetToken` answer that accepted the request, without errors.
pub fn reset_accepted(v: &serde_json::Value) -> Result<(), String> {
    payload_ok(v, "issueResetToken")?;
    (v["data"]["issueResetToken"]["accepted"] == true)
        .then_some(())
        .ok_or("not accepted".into())
}
