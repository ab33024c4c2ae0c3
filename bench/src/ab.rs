//! `handoff-bench ab`: two handoff binaries taking turns, one scenario, for measuring one change
//! against the code before it. Each turn is a fresh server on a fresh SQLite database with the
//! fixtures of `bench/run`; the order alternates (A B, B A, …) so the machine's drift over the
//! minutes falls on both alike. Each turn reports throughput (wrk, closed loop) or, with
//! `--rate`, open-loop latency at that rate, and the server's CPU time per request, which moves
//! less with the machine's noise than throughput does. With `--together` both binaries run at
//! once, each with its own load generator, which cancels the noise of a shared machine best.
//! With `--pg` both run on one throwaway PostgreSQL (started for the run, a fresh database per
//! turn), and a turn's CPU time adds the database server's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::openloop::{self, Request};
use crate::pg::Postgres;
use crate::{
    fresh_links, inbound_integration, mint_links, mint_request, signed_requests, start_binary, write_events, wrk, Run,
    Target, INBOUND_PATH,
};
use clap::{Parser, ValueEnum};

#[derive(Parser, Clone)]
pub struct AbArgs {
    /// The binary before the change.
    #[arg(long)]
    a: PathBuf,
    /// The binary with the change.
    #[arg(long)]
    b: PathBuf,
    /// The scenario both run.
    #[arg(long, value_enum)]
    scenario: Scenario,
    /// Turns of each binary.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Seconds per turn.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Concurrent connections wrk keeps open.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Drive the scenario open loop at this many requests per second instead of wrk's closed loop.
    #[arg(long)]
    rate: Option<f64>,
    /// Record B's first turn with `perf record -g -F 999` into this file (for
    /// `bench/perf/budget.py`, with the requests the turn reports).
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Run A's and B's turns at the same time (each server with its own wrk, all sharing the
    /// cores), so that whatever else the machine does falls on both alike: compare their CPU time
    /// per request, not their throughput.
    #[arg(long)]
    together: bool,
    /// Mint at full speed for this many seconds before each turn (not measured): a database
    /// that has grown, as in `bench/run`'s later scenarios.
    #[arg(long, default_value_t = 0)]
    prefill: u64,
    /// Run on a throwaway PostgreSQL (sharing the cores, PostgreSQL's default settings) instead
    /// of SQLite: one server for the run, a fresh database per turn. CPU time per request then
    /// adds the database server's (with `--together` it cannot be split between A and B, so it is
    /// left out).
    #[arg(long)]
    pg: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    Mint,
    Redeem,
    Inbound,
}

/// One turn's figures.
struct Turn {
    run: Run,
    /// handoff's CPU time per request, with `--pg` (not `--together`) plus the database's.
    cpu_us_per_request: f64,
    /// The database server's share of `cpu_us_per_request` (`--pg`).
    database_us_per_request: Option<f64>,
    /// The journal's batches over the run; `None` from a binary without the histogram.
    batches: Option<Batches>,
}

/// The group commit's batches of a run, from `handoff_journal_commit_duration_seconds`.
struct Batches {
    total: f64,
    /// Their mean commit time, in milliseconds.
    mean_ms: f64,
    /// Batches that took longer than 5, 10 and 25 ms to commit.
    slow: [f64; 3],
}

/// The histogram's upper bounds that `Batches::slow` counts beyond.
const SLOW: [&str; 3] = ["0.005", "0.01", "0.025"];

impl Batches {
    /// The batches between two readings of the buckets (`le` and count).
    fn between(before: &[(String, f64)], after: &[(String, f64)]) -> Option<Batches> {
        let delta = |le: &str| {
            let count = |buckets: &[(String, f64)]| buckets.iter().find(|(b, _)| b == le).map(|(_, n)| *n);
            Some(count(after)? - count(before).unwrap_or(0.0))
        };
        let total = delta("+Inf")?;
        let mean_ms = delta("sum").map_or(f64::NAN, |seconds| seconds * 1e3 / total);
        Some(Batches { total, mean_ms, slow: SLOW.map(|le| delta(le).map_or(f64::NAN, |n| total - n)) })
    }
}

/// The journal's commit-duration buckets now, from the server's `/metrics` (with the seconds
/// of all its batches as bucket `sum`).
async fn commit_buckets(target: &Target) -> Vec<(String, f64)> {
    let Ok(response) = reqwest::get(format!("{}/metrics", target.url)).await else { return Vec::new() };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let histogram = line.strip_prefix("handoff_journal_commit_duration_seconds")?;
            let (le, value) = match histogram.strip_prefix("_sum ") {
                Some(sum) => ("sum", sum),
                None => histogram.strip_prefix("_bucket{le=\"")?.split_once("\"} ")?,
            };
            Some((le.to_owned(), value.parse().ok()?))
        })
        .collect()
}

pub async fn run(args: AbArgs) -> Result<(), String> {
    let work = std::env::temp_dir().join(format!("handoff-ab-{}", uuid::Uuid::new_v4()));
    let postgres = if args.pg { Some(Postgres::start(&work.join("pg"))?) } else { None };
    let database = |round: usize, name: &str| Database {
        server: postgres.as_ref(),
        name: format!("{name}{round}"),
        measured: !args.together,
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let dir = work.join(round.to_string());
        let perf = args.perf.as_deref().filter(|_| round == 0);
        if args.together {
            let (db_a, db_b) = (database(round, "a"), database(round, "b"));
            let (turn_a, turn_b) = std::thread::scope(|scope| {
                let a = scope.spawn(|| block_on(turn(&args, &args.a, &dir.join("a"), &db_a, None)));
                let b = scope.spawn(|| block_on(turn(&args, &args.b, &dir.join("b"), &db_b, perf)));
                (a.join(), b.join())
            });
            let joined = |turn: std::thread::Result<Result<Turn, String>>| turn.map_err(|_| "a turn panicked")?;
            a.push(report(round, "A", joined(turn_a)?));
            b.push(report(round, "B", joined(turn_b)?));
            continue;
        }
        let order = if round % 2 == 0 { [true, false] } else { [false, true] };
        for is_a in order {
            if is_a {
                a.push(report(round, "A", turn(&args, &args.a, &dir.join("a"), &database(round, "a"), None).await?));
            } else {
                b.push(report(round, "B", turn(&args, &args.b, &dir.join("b"), &database(round, "b"), perf).await?));
            }
        }
    }
    drop(postgres);
    let _ = std::fs::remove_dir_all(&work);
    let median = |turns: &[Turn], f: fn(&Turn) -> f64| {
        let mut values: Vec<f64> = turns.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    println!("medians        req/s     p99 ms   µs CPU/request   batches over 10 ms");
    for (name, turns) in [("A", &a), ("B", &b)] {
        println!(
            "{name}         {:>9.0}  {:>9.2}  {:>8.1}  {:>14}",
            median(turns, |t| t.run.requests_per_second),
            median(turns, |t| t.run.p99_ms),
            median(turns, |t| t.cpu_us_per_request),
            median(turns, |t| t.batches.as_ref().map_or(f64::NAN, |b| b.slow[1]))
        );
    }
    // The two turns of a round ran back to back: their ratio cancels most of the drift that the
    // medians above still carry.
    let paired = |f: fn(&Turn) -> f64| {
        let mut ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| f(b) / f(a)).collect();
        ratios.sort_by(f64::total_cmp);
        let list: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        format!("{:.3} ({})", ratios[ratios.len() / 2], list.join(" "))
    };
    println!("B / A of each round, median (sorted):");
    println!("  req/s          {}", paired(|t| t.run.requests_per_second));
    println!("  p99            {}", paired(|t| t.run.p99_ms));
    println!("  µs CPU/request {}", paired(|t| t.cpu_us_per_request));
    Ok(())
}

/// Prints a turn's figures and hands it back.
fn report(round: usize, name: &str, turn: Turn) -> Turn {
    let batches = turn.batches.as_ref().map_or_else(String::new, |b| {
        let [over5, over10, over25] = b.slow;
        format!(
            "  {:.0} batches, mean {:.2} ms, {over5:.0} / {over10:.0} / {over25:.0} over 5 / 10 / 25 ms",
            b.total, b.mean_ms
        )
    });
    let database = turn.database_us_per_request.map_or_else(String::new, |us| format!(" (database {us:.1})"));
    println!(
        "round {round} {name}: {:>8.0} req/s  p50 {:>6.2}  p99 {:>7.2}  p99.9 {:>7.2} ms  {:>5.1} µs CPU/request{database}{batches}",
        turn.run.requests_per_second,
        turn.run.p50_ms,
        turn.run.p99_ms,
        turn.run.p99_9_ms.unwrap_or(f64::NAN),
        turn.cpu_us_per_request
    );
    turn
}

/// Runs `future` on a runtime of its own (a turn of `--together` on its own thread).
fn block_on<T>(future: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?.block_on(future)
}

/// Where a turn keeps its data: SQLite in its directory, or a fresh database `name` on the run's
/// PostgreSQL.
struct Database<'a> {
    server: Option<&'a Postgres>,
    name: String,
    /// Whether the turn's CPU time adds the server's: not when two turns share it at once.
    measured: bool,
}

impl Database<'_> {
    /// The server whose CPU time the turn adds.
    fn measured(&self) -> Option<&Postgres> {
        self.server.filter(|_| self.measured)
    }

    /// The database URL to hand handoff (created first), or `None` for SQLite.
    fn create(&self) -> Option<String> {
        match self.server {
            Some(pg) => {
                handoff_testkit::postgres::psql(&pg.url, &format!("CREATE DATABASE {}", self.name));
                Some(url_of(pg, &self.name))
            }
            None => None,
        }
    }

    /// The database server's CPU seconds so far (0 without one to measure).
    fn cpu_seconds(&self) -> f64 {
        self.measured().map_or(0.0, Postgres::cpu_seconds)
    }
}

/// `pg`'s URL for its database `name`.
fn url_of(pg: &Postgres, name: &str) -> String {
    format!("{}/{name}", pg.url.rsplit_once('/').map_or(pg.url.as_str(), |(server, _)| server))
}

/// A fresh server of `binary` in `dir` on `database`, its fixtures, one measured run of the
/// scenario (recorded into `perf` with one).
async fn turn(
    args: &AbArgs,
    binary: &Path,
    dir: &Path,
    database: &Database<'_>,
    perf: Option<&Path>,
) -> Result<Turn, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let url = database.create();
    let target = start_binary(binary, &dir.join("data"), url.as_deref()).await?;
    let (seconds, connections) = (args.duration, args.connections);
    let mint_url = format!("{}/v1/sso", target.url);
    if args.prefill > 0 {
        wrk("mint.lua", &mint_url, &target.env, args.prefill, connections)?;
    }
    // What each scenario prepares (links, events) is not measured.
    match (args.scenario, args.rate) {
        (Scenario::Mint, Some(rate)) => {
            let requests = vec![mint_request(&target.env)?];
            measure(&target, database, perf, seconds, || open(&target, requests, rate, seconds)).await
        }
        (Scenario::Mint, None) => {
            measure(&target, database, perf, seconds, || wrk("mint.lua", &mint_url, &target.env, seconds, connections))
                .await
        }
        (Scenario::Redeem, Some(rate)) => {
            let count = (rate * seconds as f64).ceil() as usize;
            let requests = fresh_links(&target, dir, seconds * 2, connections, count)?;
            measure(&target, database, perf, seconds, || open(&target, requests, rate, seconds)).await
        }
        (Scenario::Redeem, None) => {
            let (file, _) = mint_links(&target, dir, seconds * 2, connections)?;
            let env = [("HB_TOKENS", file.display().to_string())];
            measure(&target, database, perf, seconds, || wrk("redeem.lua", &target.url, &env, seconds, connections))
                .await
        }
        (Scenario::Inbound, rate) => {
            let secret = inbound_integration(&target).await?;
            match rate {
                Some(rate) => {
                    let count = (rate * seconds as f64).ceil() as usize;
                    let requests = signed_requests(&secret, &target.user_email, INBOUND_PATH, count)?;
                    measure(&target, database, perf, seconds, || open(&target, requests, rate, seconds)).await
                }
                None => {
                    let events = dir.join("events.txt");
                    write_events(&events, &secret, &target.user_email, 40_000 * seconds as usize)?;
                    let env = [("HB_EVENTS", events.display().to_string()), ("HB_PATH", INBOUND_PATH.into())];
                    measure(&target, database, perf, seconds, || {
                        wrk("inbound.lua", &target.url, &env, seconds, connections)
                    })
                    .await
                }
            }
        }
    }
}

/// `run`, with the server's CPU time and the journal's batches over it (and with `perf`, `perf
/// record` of the server for `seconds` from its start).
async fn measure(
    target: &Target,
    database: &Database<'_>,
    perf: Option<&Path>,
    seconds: u64,
    run: impl FnOnce() -> Result<Run, String>,
) -> Result<Turn, String> {
    let recording = perf.map(|file| record(target, file, seconds)).transpose()?;
    let buckets = commit_buckets(target).await;
    let (before, database_before) = (target.proc.cpu_seconds(), database.cpu_seconds());
    let run = run();
    let (cpu, database_cpu) = (target.proc.cpu_seconds() - before, database.cpu_seconds() - database_before);
    let batches = Batches::between(&buckets, &commit_buckets(target).await);
    if let Some(mut perf) = recording {
        perf.wait().map_err(|e| e.to_string())?;
    }
    let run = run?;
    let per_request = |seconds: f64| seconds * 1e6 / run.requests.max(1) as f64;
    Ok(Turn {
        cpu_us_per_request: per_request(cpu + database_cpu),
        database_us_per_request: database.measured().map(|_| per_request(database_cpu)),
        run,
        batches,
    })
}

fn record(target: &Target, file: &Path, seconds: u64) -> Result<Child, String> {
    Command::new("perf")
        .args(["record", "-g", "-F", "999", "-p", &target.proc.pid().to_string(), "-o"])
        .arg(file)
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run perf (apt-get install linux-perf): {e}"))
}

fn open(target: &Target, requests: Vec<Request>, rate: f64, seconds: u64) -> Result<Run, String> {
    openloop::run(&target.url, requests, rate, Duration::from_secs(seconds))
}
