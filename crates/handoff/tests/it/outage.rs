//! A PostgreSQL restart under load (`pg_ctl stop -m fast`, then start): while the database is
//! down every answer is a quick 503 `service-unavailable` with `Retry-After` (never a 500, never
//! a hang past the acquire timeout), `/readyz` says not ready, and once it is back handoff
//! serves again by itself with nothing acknowledged lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use handoff_testkit::postgres;
use serde_json::Value;

use crate::crash::{audited_mints, jti_of};
use crate::harness::{assert_problem, header, Fixture, TestServer};

/// The acquire timeout the test runs with; answers during the outage come within a few of it.
const ACQUIRE_TIMEOUT: u64 = 1;
/// Bound on any one answer: the acquire timeout plus generous room for a loaded machine.
const ANSWER_BOUND: Duration = Duration::from_secs(ACQUIRE_TIMEOUT * 10);

/// Every answer the load got: its status and how long it took, and the links minted (200).
#[derive(Default)]
struct Seen {
    answers: Vec<(u16, Duration)>,
    minted: Vec<String>,
}

/// Mints from `workers` concurrent clients until `stop`, recording everything in `seen`.
fn load(
    server: &Arc<TestServer>,
    fx: &Arc<Fixture>,
    workers: usize,
    stop: &Arc<AtomicBool>,
    seen: &Arc<Mutex<Seen>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|_| {
            let (server, fx, stop, seen) = (server.clone(), fx.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let response = server.mint_raw(&fx, &fx.user.id, None).await;
                    let status = response.status().as_u16();
                    let body: Value = response.json().await.unwrap_or_default();
                    let mut seen = seen.lock().unwrap();
                    seen.answers.push((status, started.elapsed()));
                    if status == 200 {
                        seen.minted.push(body["data"]["redirect_url"].as_str().unwrap().to_owned());
                    }
                }
            })
        })
        .collect()
}

/// Polls `/readyz` until it answers `status` (bounded: 30 s), so the test waits on the server,
/// not on a guess.
async fn readyz_becomes(server: &TestServer, status: u16) {
    for _ in 0..300 {
        let response = server.http.get(format!("{}/readyz", server.url)).send().await.unwrap();
        if response.status().as_u16() == status {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/readyz never answered {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_gives_quick_503s_and_loses_nothing_acknowledged() {
    if !postgres::available() {
        return;
    }
    let mut database = postgres::Cluster::start();
    let url = database.url.clone();
    let server = Arc::new(
        TestServer::with(|layer| {
            layer.database_url = Some(url);
            layer.database_acquire_timeout = Some(ACQUIRE_TIMEOUT);
            layer.partner_rate_limit = Some(0);
        })
        .await,
    );
    let fx = Arc::new(server.fixture().await);
    let mut before = Vec::new();
    for i in 0..10 {
        before.push(server.mint(&fx, &format!("/dashboard/{i}")).await);
    }

    let (stop, seen) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Seen::default())));
    let workers = load(&server, &fx, 3, &stop, &seen);
    tokio::task::block_in_place(|| database.stop_fast());

    // Down: a mint and a redemption are quick 503s with Retry-After; readiness is 503.
    readyz_becomes(&server, 503).await;
    let started = Instant::now();
    let refused = server.mint_raw(&fx, &fx.user.id, None).await;
    assert!(started.elapsed() < ANSWER_BOUND, "a mint hung for {:?}", started.elapsed());
    assert_eq!(header(&refused, "retry-after"), Some("2"));
    assert_problem(refused, 503, "service-unavailable").await;
    let started = Instant::now();
    let redeeming = server.http.get(&before[0]).header("accept", "application/json").send().await.unwrap();
    assert!(started.elapsed() < ANSWER_BOUND, "a redemption hung for {:?}", started.elapsed());
    assert!(header(&redeeming, "retry-after").is_some());
    assert_problem(redeeming, 503, "service-unavailable").await;
    let ready = server.http.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_problem(ready, 503, "service-unavailable").await;
    let answered_while_down = seen.lock().unwrap().answers.len();

    // Back: handoff recovers by itself.
    tokio::task::block_in_place(|| database.restart());
    readyz_becomes(&server, 200).await;
    let after = server.mint(&fx, "/dashboard/after").await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(seen.answers.len() > answered_while_down, "the load did not go on after the restart");
    assert!(seen.answers.iter().any(|(status, _)| *status == 503), "the load never met the outage");
    for (status, took) in &seen.answers {
        assert!(matches!(status, 200 | 503), "an answer was {status}");
        assert!(*took < ANSWER_BOUND, "an answer took {took:?}");
    }
    // Every link acknowledged before, during (200s of the load) and after the outage: its mint
    // is in the audit log, and it redeems exactly once.
    let acknowledged: Vec<&String> = before.iter().chain(&seen.minted).chain([&after]).collect();
    let audited = audited_mints(&server.url).await;
    for link in &acknowledged {
        assert!(audited.contains(&jti_of(link)), "an acknowledged mint is not in the audit log");
        assert_eq!(server.open(link).await.status(), 303, "{link}");
        let again = server.http.get(*link).header("accept", "application/json").send().await.unwrap();
        assert_eq!(again.status(), 409);
    }
    // The document names the answer: a mint and a redemption may be 503, with Retry-After.
    let doc: Value =
        server.http.get(format!("{}/openapi.json", server.url)).send().await.unwrap().json().await.unwrap();
    for (path, method) in [("/v1/sso", "post"), ("/auth/sso", "get")] {
        let unavailable = &doc["paths"][path][method]["responses"]["503"];
        assert!(unavailable["headers"]["Retry-After"].is_object(), "{path}: {unavailable}");
    }
}
