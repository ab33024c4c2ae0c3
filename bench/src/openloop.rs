//! The open-loop load generator: requests at a fixed arrival rate, whatever the answers do.
//! wrk's closed loop sends a connection's next request only after its answer, so a stall of the
//! server also stalls the requests that would have arrived meanwhile, and their wait is never
//! measured (coordinated omission). Here request `i` is due at `t0 + i / rate`, rounded up to a
//! grid of [`TICK`] (0.5 ms), and its latency runs from that instant to the end of its response:
//! time spent waiting for the schedule thread, for a free or a new connection, or in the server
//! all counts, as with wrk2 and `oha --latency-correction`.
//!
//! One thread keeps the schedule with the OS sleep (tokio's timer ticks in whole milliseconds)
//! and hands the due requests to a single-threaded tokio runtime (one core at most, as wrk
//! `-t1`), which sends each on a keep-alive HTTP/1.1 connection (hyper's client connection: no
//! pool, no redirects to pay for). An idle connection takes the request, handed to it alone (one
//! wake-up per request); when every open connection is busy a new one is opened, up to
//! [`MAX_CONNECTIONS`]; beyond that requests queue, and their wait counts. Errors (connect, I/O,
//! no answer within [`REQUEST_TIMEOUT`]) are counted, not timed.
//!
//! Latencies are kept as one `u64` per request and sorted at the end: a run is at most a few
//! hundred thousand requests (megabytes), so the percentiles are exact and need no histogram
//! crate.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::http::{HeaderName, HeaderValue, Method};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;

use crate::Run;

/// The most connections a run opens (handoff is started with a per-client cap above it).
pub const MAX_CONNECTIONS: usize = 1024;

/// The grid of the schedule: the requests due within one tick are handed over together at its
/// end, and their latency counts from there. Waking for every request cost this generator twice
/// the CPU on a 2-core machine (two context switches each, in it and in the server), CPU taken
/// from the server under test; a coarser grid sends bigger bursts (at 15 000/s, 7 or 8 at once).
const TICK: Duration = Duration::from_micros(500);

/// How long a request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One request to send: the generator cycles through a run's list of them.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Request {
    /// A request from header pairs as the lua scripts spell them; a name or value that is not
    /// valid HTTP is an error.
    pub fn new(method: Method, path: String, headers: &[(&str, &str)], body: &str) -> Result<Request, String> {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::try_from(*name).map_err(|e| e.to_string())?;
                Ok((name, HeaderValue::try_from(*value).map_err(|e| e.to_string())?))
            })
            .collect::<Result<_, String>>()?;
        Ok(Request { method, path, headers, body: Bytes::from(body.to_owned()) })
    }
}

/// A request due at `intended`.
struct Job {
    index: usize,
    intended: Instant,
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    latencies_ns: Vec<u64>,
    non_success: u64,
    errors: u64,
    last_done: Option<Instant>,
}

/// Shared by the schedule and the connections.
struct Shared {
    addr: String,
    host: HeaderValue,
    requests: Vec<Request>,
    dispatch: Mutex<Dispatch>,
}

/// The connections waiting for a request (by their number), and the requests waiting for a
/// connection (every one busy, and no more may be opened). One of the two is always empty.
#[derive(Default)]
struct Dispatch {
    idle: Vec<usize>,
    waiting: VecDeque<Job>,
}

impl Shared {
    fn dispatch(&self) -> std::sync::MutexGuard<'_, Dispatch> {
        self.dispatch.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sends `rate × duration` requests to `url` (`http://host:port`) at `rate` per second, cycling
/// through `requests`, and reports the run. Blocks; runs on threads of its own.
pub fn run(url: &str, requests: Vec<Request>, rate: f64, duration: Duration) -> Result<Run, String> {
    let addr = url.strip_prefix("http://").ok_or_else(|| format!("not an http:// URL: {url}"))?.to_owned();
    if requests.is_empty() || rate <= 0.0 {
        return Err("an open-loop run needs requests and a positive rate".into());
    }
    let host = HeaderValue::try_from(addr.as_str()).map_err(|e| e.to_string())?;
    let total = (rate * duration.as_secs_f64()) as usize;
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let shared = Arc::new(Shared { addr, host, requests, dispatch: Mutex::default() });
            let schedule = {
                let shared = shared.clone();
                tokio::task::spawn_blocking(move || schedule(&shared, rate, total))
            };
            let scheduled = schedule.await.map_err(|e| e.to_string())?;
            let opened = scheduled.connections.len();
            let mut all = Tally::default();
            for connection in scheduled.connections {
                let tally = connection.await.map_err(|e| e.to_string())?;
                all.latencies_ns.extend(tally.latencies_ns);
                all.non_success += tally.non_success;
                all.errors += tally.errors;
                all.last_done = all.last_done.max(tally.last_done);
            }
            Ok(report(all, scheduled.t0, rate, opened, scheduled.late))
        })
    })
    .join()
    .map_err(|_| "the load generator panicked".to_owned())?
}

/// What the schedule leaves: its start, the connections it opened, its worst lateness.
struct Scheduled {
    t0: Instant,
    connections: Vec<tokio::task::JoinHandle<Tally>>,
    late: Duration,
}

/// Hands request `i` over at `t0 + i / rate` to an idle connection, opening one when all are busy.
/// When it returns, the connections' channels close: each ends once it has nothing left to send.
fn schedule(shared: &Arc<Shared>, rate: f64, total: usize) -> Scheduled {
    let runtime = tokio::runtime::Handle::current();
    let mut connections = Vec::new();
    let mut senders: Vec<mpsc::UnboundedSender<Job>> = Vec::new();
    let mut late = Duration::ZERO;
    let t0 = Instant::now();
    let tick = TICK.as_secs_f64();
    for index in 0..total {
        let intended = t0 + Duration::from_secs_f64((index as f64 / rate / tick).ceil() * tick);
        let now = Instant::now();
        if intended > now {
            // The schedule itself: a load generator's sleep, not library code's.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(intended - now);
        }
        late = late.max(Instant::now().saturating_duration_since(intended));
        let job = Job { index, intended };
        let mut dispatch = shared.dispatch();
        match dispatch.idle.pop() {
            // An idle connection waits on its channel until the schedule ends.
            Some(idle) => drop(senders[idle].send(job)),
            None if senders.len() < MAX_CONNECTIONS => {
                drop(dispatch);
                let (sender, jobs) = mpsc::unbounded_channel();
                let _ = sender.send(job);
                connections.push(runtime.spawn(connection(shared.clone(), senders.len(), jobs)));
                senders.push(sender);
            }
            None => dispatch.waiting.push_back(job),
        }
    }
    Scheduled { t0, connections, late }
}

/// One keep-alive connection, number `id`: sends the requests handed to it on `jobs` and, when it
/// is done with one, the next one waiting if any, else it tells the schedule it is idle; until the
/// schedule ends. A failed connection is dropped and the next request opens a new one.
async fn connection(shared: Arc<Shared>, id: usize, mut jobs: mpsc::UnboundedReceiver<Job>) -> Tally {
    let mut tally = Tally::default();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut next = jobs.recv().await;
    while let Some(job) = next {
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, send(&shared, &mut sender, job.index)).await;
        let done = Instant::now();
        match outcome {
            Ok(Ok(status)) => {
                tally.latencies_ns.push(done.duration_since(job.intended).as_nanos() as u64);
                if !(200..400).contains(&status) {
                    tally.non_success += 1;
                }
            }
            Ok(Err(_)) | Err(_) => {
                tally.errors += 1;
                sender = None;
            }
        }
        tally.last_done = Some(done);
        next = {
            let mut dispatch = shared.dispatch();
            let waiting = dispatch.waiting.pop_front();
            if waiting.is_none() {
                dispatch.idle.push(id);
            }
            waiting
        };
        if next.is_none() {
            next = jobs.recv().await;
        }
    }
    tally
}

/// Sends request `index` (opening the connection if there is none) and reads the whole answer;
/// returns its status.
async fn send(shared: &Shared, sender: &mut Option<SendRequest<Full<Bytes>>>, index: usize) -> Result<u16, String> {
    let fail = |e: hyper::Error| e.to_string();
    if sender.as_ref().is_none_or(SendRequest::is_closed) {
        let stream = tokio::net::TcpStream::connect(&shared.addr).await.map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (new, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(fail)?;
        tokio::spawn(connection);
        *sender = Some(new);
    }
    let sender = sender.as_mut().ok_or("no connection")?;
    let request = &shared.requests[index % shared.requests.len()];
    let mut builder =
        hyper::Request::builder().method(request.method.clone()).uri(&request.path).header("host", &shared.host);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(Full::new(request.body.clone())).map_err(|e| e.to_string())?;
    sender.ready().await.map_err(fail)?;
    let response = sender.send_request(request).await.map_err(fail)?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        frame.map_err(fail)?;
    }
    Ok(status)
}

/// The run's figures: latencies of the answered requests (including non-2xx/3xx ones, as wrk
/// counts them), the achieved rate over the time from the first intended request to the last
/// answer.
fn report(mut all: Tally, t0: Instant, rate: f64, connections: usize, late: Duration) -> Run {
    all.latencies_ns.sort_unstable();
    let answered = all.latencies_ns.len();
    let percentile = |p: f64| {
        let rank = ((p * answered as f64).ceil() as usize).clamp(1, answered.max(1)) - 1;
        all.latencies_ns.get(rank).map_or(f64::NAN, |ns| *ns as f64 / 1e6)
    };
    let elapsed = all.last_done.map_or(0.0, |done| done.duration_since(t0).as_secs_f64());
    Run {
        requests_per_second: if elapsed > 0.0 { answered as f64 / elapsed } else { 0.0 },
        offered_per_second: Some(rate),
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
        p99_9_ms: Some(percentile(0.999)),
        max_ms: Some(percentile(1.0)),
        requests: answered as u64,
        non_success: all.non_success,
        socket_errors: all.errors,
        connections: Some(connections),
        schedule_late_max_ms: Some(late.as_secs_f64() * 1e3),
    }
}
