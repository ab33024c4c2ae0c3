//! handoff-bench: measures handoff's SSO hop with wrk against the practical limit of the same
//! HTTP stack (an axum handler taking the same request shape) and against a peer
//! (node-oidc-provider's client-credentials token endpoint), all in one run on this machine.
//!
//! Throughput is measured closed loop (wrk); latency at half of each maximum open loop, at a fixed
//! arrival rate (`openloop.rs`). `bench/run` builds in release mode and runs `handoff-bench run`;
//! the table goes to stdout and the figures to `bench/results/latest.json` (with `--pg`, handoff
//! on a throwaway PostgreSQL: `latest-pg.json`). A benchmark is a report, not a test: nothing
//! here asserts a number.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use clap::{Parser, Subcommand};
use handoff_webhook::SignatureProfile;
use hyper::http::Method;
use openloop::Request;
use serde::Serialize;
use serde_json::{json, Value};

mod ab;
mod baseline;
mod openloop;
mod pg;
mod receiver;
mod scale;

#[derive(Parser)]
#[command(about = "Load benchmarks of handoff")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run every scenario and write the report.
    Run(RunArgs),
    /// Serve the baseline handler (used by `run`).
    Baseline,
    /// Receive a webhook audit stream's deliveries (used by `run`; the secret in `HB_SECRET`).
    Receiver,
    /// Two handoff binaries taking turns on fresh servers, one scenario: throughput and CPU time
    /// per request of each, for measuring one change against the code before it in the same
    /// minutes (this machine drifts by more than most single changes are worth).
    Ab(ab::AbArgs),
    /// Drive the baseline handler open loop at `--rate`: shows what the open-loop generator
    /// itself costs in latency on this machine. With `--url`, drive a running handoff's
    /// `POST /v1/sso` instead (credentials in `HB_PARTNER_ID`, `HB_PARTNER_SECRET`, `HB_ORG_ID`,
    /// `HB_ORG_SECRET`, `HB_USER_ID`): mint's open-loop latency alone, for A/B comparisons.
    CheckGenerator {
        /// Requests per second offered.
        #[arg(long, default_value_t = 10_000.0)]
        rate: f64,
        /// Seconds.
        #[arg(long, default_value_t = 5)]
        duration: u64,
        /// A running handoff (`http://127.0.0.1:PORT`) to mint at, instead of the baseline.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(Parser, Clone)]
pub struct RunArgs {
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections wrk keeps open.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Runs per scenario; the report gives their median.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Also measure mint, redeem and the admin stats with 1 million users and 10 million audit
    /// rows.
    #[arg(long)]
    scale: bool,
    /// How many audit rows `--scale` seeds (fewer for a quick look at the scale scenarios).
    #[arg(long, default_value_t = 10_000_000)]
    scale_audit_rows: u64,
    /// Run handoff on a throwaway PostgreSQL started on this machine (it shares the cores)
    /// instead of SQLite.
    #[arg(long)]
    pg: bool,
    /// Where the JSON report goes [default: bench/results/latest.json; with --pg,
    /// bench/results/latest-pg.json].
    #[arg(long)]
    output: Option<PathBuf>,
}

/// Where the integration of [`inbound_integration`] takes events.
pub const INBOUND_PATH: &str = "/v1/inbound/bench/sso";

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdefghijklmnop";

fn main() -> Result<(), String> {
    match Cli::parse().command {
        Cmd::Baseline => baseline::serve(),
        Cmd::Receiver => receiver::serve(),
        Cmd::CheckGenerator { rate, duration, url } => check_generator(rate, duration, url),
        Cmd::Ab(args) => {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(ab::run(args))
        }
        Cmd::Run(args) => {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime.block_on(run(args))
        }
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process that is ended when dropped.
pub struct Proc {
    child: Child,
    pub addr: String,
}

impl Proc {
    /// Spawns `command` and waits for a stdout line starting with `ready`; the rest of that
    /// line is the address it listens on.
    pub fn spawn(mut command: Command, ready: &str) -> Result<Proc, String> {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) if line.starts_with(ready) => break line[ready.len()..].trim().to_owned(),
                Some(_) => {}
                None => return Err(format!("{command:?} exited before it was ready")),
            }
        };
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        Ok(Proc { child, addr })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the process has used so far, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid().to_string())
    }

    /// Peak resident memory so far, in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
            .and_then(|l| l.split_whitespace().nth(1).and_then(|kib| kib.parse::<f64>().ok()))
            .map_or(0.0, |kib| kib / 1024.0)
    }
}

/// CPU time (user + system) process `pid` (or `self`) has used so far, in seconds (Linux clock
/// ticks of 1/100 s).
pub fn cpu_seconds(pid: &str) -> f64 {
    stat_fields(pid).and_then(|fields| Some((fields.get(11)? + fields.get(12)?) / 100.0)).unwrap_or(0.0)
}

/// The numeric fields of `/proc/{pid}/stat` after the command name, from the state (field 3,
/// which parses to NaN) on: utime (field 14) is at index 11.
fn stat_fields(pid: &str) -> Option<Vec<f64>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.split_whitespace().map(|f| f.parse().unwrap_or(f64::NAN)).collect())
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run: a wrk run (closed loop) parsed, or an open-loop run, which also has the offered rate,
/// p99.9, the maximum and the connections it opened.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Achieved: answers per second.
    pub requests_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offered_per_second: Option<f64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_9_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    /// Answers (of any status).
    pub requests: u64,
    /// Answers other than 2xx or 3xx.
    pub non_success: u64,
    /// Requests without an answer: connect, read, write or timeout errors.
    pub socket_errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<usize>,
    /// How late, at worst, the open-loop schedule handed a request over (counted in its latency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_late_max_ms: Option<f64>,
}

fn millis(value: &str) -> Option<f64> {
    let (number, factor) = if let Some(v) = value.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (value, 1.0)
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

fn parse_wrk(output: &str) -> Result<Run, String> {
    let field =
        |prefix: &str| output.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|rest| rest.trim().to_owned()));
    let percentile = |p: &str| {
        output.lines().find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some(p)).then(|| parts.next().and_then(millis)).flatten()
        })
    };
    let requests = output
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let socket_errors = field("Socket errors:")
        .map(|s| s.split(',').filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    Ok(Run {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no Requests/sec in:\n{output}"))?,
        offered_per_second: None,
        p50_ms: percentile("50%").unwrap_or(f64::NAN),
        p99_ms: percentile("99%").unwrap_or(f64::NAN),
        p99_9_ms: None,
        max_ms: None,
        requests,
        non_success: field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
        socket_errors,
        connections: None,
        schedule_late_max_ms: None,
    })
}

/// Runs wrk with `script` against `url`.
pub fn wrk(script: &str, url: &str, env: &[(&str, String)], seconds: u64, connections: u32) -> Result<Run, String> {
    let output = Command::new("wrk")
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(repo_root().join("bench/lua").join(script))
        .arg(url)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("cannot run wrk (apt-get install wrk): {e}"))?;
    if !output.status.success() {
        return Err(format!("wrk failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    parse_wrk(&String::from_utf8_lossy(&output.stdout))
}

/// The median run of a scenario: by requests per second (closed loop) or by p99 (open loop).
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub what: String,
    pub median: Run,
    pub runs: Vec<Run>,
    pub ratio_to_baseline: Option<f64>,
}

fn median(name: &str, what: &str, mut runs: Vec<Run>) -> Scenario {
    runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
    let median = runs[runs.len() / 2].clone();
    Scenario { name: name.into(), what: what.into(), median, runs, ratio_to_baseline: None }
}

/// Everything a run of handoff needs: its address and the fixture's credentials.
pub struct Target {
    pub proc: Proc,
    pub url: String,
    pub env: Vec<(&'static str, String)>,
    pub user_email: String,
    /// The organization of the user (org number 123456789).
    pub organization_id: String,
}

/// Starts the release handoff binary on `data_dir` (and on the database at `database_url`, SQLite
/// in `data_dir` without one) and creates the fixtures.
pub async fn start_handoff(data_dir: &Path, database_url: Option<&str>) -> Result<Target, String> {
    start_binary(&repo_root().join("target/release/handoff"), data_dir, database_url).await
}

/// [`start_handoff`] with the handoff binary at `binary`.
pub async fn start_binary(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> Result<Target, String> {
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--admin-token", ADMIN_TOKEN, "--failed-auth-limit", "1000000", "--partner-rate-limit", "0"])
        // The stream scenario's receiver is on loopback; the open-loop runs may open more
        // connections from one address than the per-client cap (64) lets in.
        .arg("--allow-private-endpoints")
        .args(["--max-connections-per-client", "4096"])
        .env("RUST_LOG", "warn");
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let proc = Proc::spawn(command, "handoff listening on ")?;
    let url = proc.addr.clone();
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value| {
        let request = http.post(format!("{url}/admin/v1{path}")).bearer_auth(ADMIN_TOKEN).json(&body);
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            response.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let org = admin("/organizations", json!({"name": "Bench Clinic", "org_numbers": ["123456789"]})).await?;
    let partner = admin("/partners", json!({"name": "Bench EHR"})).await?;
    let (org_id, partner_id) = (org["id"].as_str().unwrap_or_default(), partner["id"].as_str().unwrap_or_default());
    http.put(format!("{url}/admin/v1/partners/{partner_id}/organizations/{org_id}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let email = "turid@jensen.com".to_owned();
    let user = admin(
        &format!("/organizations/{org_id}/users"),
        json!({"email": email, "given_name": "Turid", "family_name": "Jensen"}),
    )
    .await?;
    let env = vec![
        ("HB_PARTNER_ID", partner_id.to_owned()),
        ("HB_PARTNER_SECRET", partner["secret"].as_str().unwrap_or_default().to_owned()),
        ("HB_ORG_ID", org_id.to_owned()),
        ("HB_ORG_SECRET", org["secret"].as_str().unwrap_or_default().to_owned()),
        ("HB_USER_ID", user["id"].as_str().unwrap_or_default().to_owned()),
    ];
    let organization_id = org_id.to_owned();
    Ok(Target { proc, url, env, user_email: email, organization_id })
}

/// Mints links for `seconds` at full speed and returns the file of their paths and its count.
pub fn mint_links(target: &Target, dir: &Path, seconds: u64, connections: u32) -> Result<(PathBuf, usize), String> {
    let file = dir.join(format!("links-{}.txt", uuid::Uuid::new_v4()));
    let mut env = target.env.clone();
    env.push(("HB_COLLECT", file.display().to_string()));
    wrk("mint.lua", &format!("{}/v1/sso", target.url), &env, seconds, connections)?;
    let count = std::fs::read_to_string(&file).map_err(|e| e.to_string())?.lines().count();
    Ok((file, count))
}

/// Redemptions with never-used links; flags runs that ran out of links.
pub fn redeem_runs(target: &Target, dir: &Path, args: &RunArgs) -> Result<Vec<Run>, String> {
    let mut runs = Vec::new();
    for _ in 0..args.runs {
        let (file, count) = mint_links(target, dir, args.duration * 2, args.connections)?;
        let env = [("HB_TOKENS", file.display().to_string())];
        let run = wrk("redeem.lua", &target.url, &env, args.duration, args.connections)?;
        if run.requests > count as u64 {
            eprintln!("warning: redeem used {} requests but only {count} links were minted", run.requests);
        }
        runs.push(run);
    }
    Ok(runs)
}

pub fn mint_runs(target: &Target, args: &RunArgs) -> Result<Vec<Run>, String> {
    (0..args.runs)
        .map(|_| wrk("mint.lua", &format!("{}/v1/sso", target.url), &target.env, args.duration, args.connections))
        .collect()
}

/// `POST /v1/sso` as `mint.lua` sends it, with the credentials in `env` (`HB_PARTNER_ID`, …).
pub fn mint_request(env: &[(&str, String)]) -> Result<Request, String> {
    let var = |name: &str| env.iter().find(|(k, _)| *k == name).map_or("", |(_, v)| v.as_str());
    let headers = [
        ("content-type", "application/json"),
        ("x-partner-id", var("HB_PARTNER_ID")),
        ("x-partner-secret", var("HB_PARTNER_SECRET")),
        ("x-organization-id", var("HB_ORG_ID")),
        ("x-organization-secret", var("HB_ORG_SECRET")),
        ("x-user-id", var("HB_USER_ID")),
    ];
    Request::new(Method::POST, "/v1/sso".into(), &headers, MINT_BODY)
}

/// The body `mint.lua` sends.
const MINT_BODY: &str = r#"{"redirect_path": "/dashboard/patients/1234-5678-3456-2345"}"#;

/// `args.runs` open-loop runs against `url` at `rate`, each with the requests `make` gives for a
/// count (fresh links, fresh events); the median run is the one with the median p99. `what`
/// gains the offered rate, the connections opened and the generator's CPU.
fn open_loop(
    name: &str,
    what: &str,
    url: &str,
    rate: f64,
    args: &RunArgs,
    mut make: impl FnMut(usize) -> Result<Vec<Request>, String>,
) -> Result<Scenario, String> {
    let count = (rate * args.duration as f64).ceil() as usize;
    let (mut runs, mut cpu) = (Vec::new(), 0.0);
    for _ in 0..args.runs {
        let requests = make(count)?;
        let before = cpu_seconds("self");
        runs.push(openloop::run(url, requests, rate, Duration::from_secs(args.duration))?);
        cpu += cpu_seconds("self") - before;
    }
    runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    let median = runs[runs.len() / 2].clone();
    let connections = runs.iter().filter_map(|run| run.connections).max().unwrap_or(0);
    let what =
        format!("{what}, open loop at {rate:.0}/s offered (up to {connections} connections; generator CPU {cpu:.1} s)");
    Ok(Scenario { name: name.into(), what, median, runs, ratio_to_baseline: None })
}

async fn run(args: RunArgs) -> Result<(), String> {
    if args.pg && args.scale {
        return Err("--scale seeds its million users into SQLite with sqlite3; it does not run with --pg".into());
    }
    let work = std::env::temp_dir().join(format!("handoff-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut scenarios = Vec::new();
    let mut memory = BTreeMap::new();

    // (e) The baseline: same stack, same request shape, a trivial handler.
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let base = spawn_baseline(&me)?;
    let env_base = baseline_env();
    let runs: Result<Vec<_>, _> = (0..args.runs)
        .map(|_| wrk("mint.lua", &format!("http://{}/v1/sso", base.addr), &env_base, args.duration, args.connections))
        .collect();
    scenarios.push(median("baseline", "axum on tokio: the five headers and the JSON body, a small JSON answer", runs?));
    memory.insert("baseline".to_owned(), base.peak_rss_mib());
    drop(base);

    // (a)–(d) handoff on a fresh SQLite database, or with --pg on a fresh PostgreSQL.
    let postgres = if args.pg { Some(pg::Postgres::start(&work.join("pg"))?) } else { None };
    let backend = match &postgres {
        Some(pg) => format!(
            "PostgreSQL {} on this machine with its default settings (fsync on), sharing the cores with handoff \
             and the load generators",
            pg.version
        ),
        None => "SQLite (in the handoff process)".to_owned(),
    };
    let target = start_handoff(&work.join("data"), postgres.as_ref().map(|pg| pg.url.as_str())).await?;
    let database_cpu = || postgres.as_ref().map_or(0.0, pg::Postgres::cpu_seconds);
    // Mint alone and with a webhook audit stream, in alternating runs.
    let (mint, streamed) = mint_and_stream_runs(&target, &me, &args, database_cpu).await?;
    let mint_half = mint.median.requests_per_second / 2.0;
    scenarios.push(mint);
    let redeem = median("redeem", "GET /auth/sso, a fresh link every request", redeem_runs(&target, &work, &args)?);
    let redeem_half = redeem.median.requests_per_second / 2.0;
    scenarios.push(redeem);
    // Latency at half of each one's maximum throughput, open loop (a fixed arrival rate).
    let request = mint_request(&target.env)?;
    let what = "POST /v1/sso at half of mint's maximum";
    scenarios
        .push(open_loop("mint @half open-loop", what, &target.url, mint_half, &args, |_| Ok(vec![request.clone()]))?);
    let what = "GET /auth/sso, a fresh link every request, at half of redeem's maximum";
    scenarios.push(open_loop("redeem @half open-loop", what, &target.url, redeem_half, &args, |count| {
        fresh_links(&target, &work, args.duration, args.connections, count)
    })?);

    let secret = inbound_integration(&target).await?;
    let mut inbound = Vec::new();
    for _ in 0..args.runs {
        let events = work.join(format!("events-{}.txt", uuid::Uuid::new_v4()));
        write_events(&events, &secret, &target.user_email, 40_000 * args.duration as usize)?;
        inbound.push(wrk(
            "inbound.lua",
            &target.url,
            &[("HB_EVENTS", events.display().to_string()), ("HB_PATH", INBOUND_PATH.into())],
            args.duration,
            args.connections,
        )?);
    }
    let inbound = median("inbound", "POST /v1/inbound/{slug}/sso, a distinct signed event every request", inbound);
    let inbound_half = inbound.median.requests_per_second / 2.0;
    scenarios.push(inbound);
    let what = "POST /v1/inbound/{slug}/sso, a distinct signed event every request, at half of inbound's maximum";
    scenarios.push(open_loop("inbound @half open-loop", what, &target.url, inbound_half, &args, |count| {
        signed_requests(&secret, &target.user_email, INBOUND_PATH, count)
    })?);

    let cookie = session_cookie(&target, &work)?;
    let runs: Result<Vec<_>, _> = (0..args.runs)
        .map(|_| {
            wrk(
                "verify.lua",
                &format!("{}/auth/verify", target.url),
                &[("HB_COOKIE", cookie.clone())],
                args.duration,
                args.connections,
            )
        })
        .collect();
    scenarios.push(median("verify", "GET /auth/verify with a live session (forward-auth)", runs?));
    scenarios.push(streamed);
    memory.insert("handoff".to_owned(), target.proc.peak_rss_mib());
    drop(target);
    drop(postgres);

    // The control of the open-loop rows: the baseline at the highest of their rates, which shows
    // what the generator and the HTTP stack add to a latency on this machine.
    let rate = mint_half.max(redeem_half).max(inbound_half);
    let base = spawn_baseline(&me)?;
    let request = mint_request(&env_base)?;
    let what = "the baseline's request at the highest rate of handoff's open-loop rows: what the generator and \
                the stack add";
    let url = format!("http://{}", base.addr);
    scenarios.push(open_loop("baseline open-loop", what, &url, rate, &args, |_| Ok(vec![request.clone()]))?);
    drop(base);

    // (f) The peer: node-oidc-provider's token endpoint.
    let peer_dir = repo_root().join("bench/peer");
    if !peer_dir.join("node_modules").exists() {
        let status = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--prefix"]).arg(&peer_dir).status();
        if !status.is_ok_and(|s| s.success()) {
            return Err("npm ci in bench/peer failed".into());
        }
    }
    let mut command = Command::new("node");
    command.arg(peer_dir.join("server.mjs")).arg("0");
    let peer = Proc::spawn(command, "listening ")?;
    let basic = format!("Basic {}", base64_basic("bench", "bench-secret-0123456789abcdefghijklmnopqrstuv"));
    let runs: Result<Vec<_>, _> = (0..args.runs)
        .map(|_| {
            wrk(
                "peer.lua",
                &format!("http://127.0.0.1:{}/token", peer.addr),
                &[("HB_BASIC", basic.clone())],
                args.duration,
                args.connections,
            )
        })
        .collect();
    scenarios.push(median("peer", "node-oidc-provider: POST /token, client-credentials grant", runs?));
    memory.insert("peer".to_owned(), peer.peak_rss_mib());
    drop(peer);

    if args.scale {
        scenarios.extend(scale::run(&work, &args).await?);
    }

    // Throughput is compared with the baseline's; an open-loop row's rate is the one it was given.
    let baseline_rps = scenarios[0].median.requests_per_second;
    for scenario in scenarios.iter_mut().filter(|s| s.median.offered_per_second.is_none()) {
        scenario.ratio_to_baseline = Some(scenario.median.requests_per_second / baseline_rps);
    }
    print_table(&scenarios, &memory, &args, &backend);
    let report = json!({
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "backend": if args.pg { "postgresql" } else { "sqlite" },
        "database": backend,
        "load_generator": format!("wrk -t1 -c{} -d{}s --latency", args.connections, args.duration),
        "open_loop_generator": format!(
            "handoff-bench's own (bench/src/openloop.rs), one thread sharing the cores: a fixed arrival rate, \
             latency from each request's intended start to the end of its answer, keep-alive HTTP/1.1 \
             connections opened as needed up to {}, {} s per run",
            openloop::MAX_CONNECTIONS,
            args.duration
        ),
        "runs_per_scenario": args.runs,
        "scenarios": scenarios,
        "peak_rss_mib": memory,
    });
    let output = args.output.clone().unwrap_or_else(|| {
        PathBuf::from(if args.pg { "bench/results/latest-pg.json" } else { "bench/results/latest.json" })
    });
    let output = repo_root().join(output);
    std::fs::write(&output, serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    println!("\nwritten: {}", output.display());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// Creates the inbound integration `bench` (linked to the fixture's organization, serving
/// `POST /v1/inbound/bench/sso`) and returns its signing secret.
pub async fn inbound_integration(target: &Target) -> Result<String, String> {
    let http = reqwest::Client::new();
    let integration: Value = http
        .post(format!("{}/admin/v1/inbound-integrations", target.url))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"slug": "bench", "tolerance_seconds": 300}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let secret = integration["secret"].as_str().ok_or("no integration secret")?.to_owned();
    // An integration serves the organizations it is linked to only.
    let integration_id = integration["id"].as_str().ok_or("no integration id")?;
    http.put(format!(
        "{}/admin/v1/inbound-integrations/{integration_id}/organizations/{}",
        target.url, target.organization_id
    ))
    .bearer_auth(ADMIN_TOKEN)
    .send()
    .await
    .and_then(reqwest::Response::error_for_status)
    .map_err(|e| e.to_string())?;
    Ok(secret)
}

/// Starts the baseline handler (`handoff-bench baseline`).
fn spawn_baseline(me: &Path) -> Result<Proc, String> {
    let mut command = Command::new(me);
    command.arg("baseline");
    Proc::spawn(command, "listening ")
}

/// The five credentials of `mint.lua` for the baseline, which only checks they are there.
fn baseline_env() -> Vec<(&'static str, String)> {
    ["HB_PARTNER_ID", "HB_PARTNER_SECRET", "HB_ORG_ID", "HB_ORG_SECRET", "HB_USER_ID"]
        .into_iter()
        .map(|name| (name, "x".to_owned()))
        .collect()
}

/// `handoff-bench check-generator`: the baseline driven open loop at `rate` for `seconds`, to
/// see what the generator itself adds to a latency and what CPU it takes from the server; or,
/// with `url`, a running handoff's mint.
fn check_generator(rate: f64, seconds: u64, url: Option<String>) -> Result<(), String> {
    let (base, url, env) = match url {
        Some(url) => {
            let env = ["HB_PARTNER_ID", "HB_PARTNER_SECRET", "HB_ORG_ID", "HB_ORG_SECRET", "HB_USER_ID"]
                .into_iter()
                .map(|name| (name, std::env::var(name).unwrap_or_default()))
                .collect();
            (None, url, env)
        }
        None => {
            let base = spawn_baseline(&std::env::current_exe().map_err(|e| e.to_string())?)?;
            let url = format!("http://{}", base.addr);
            (Some(base), url, baseline_env())
        }
    };
    let server_cpu = || base.as_ref().map_or(0.0, Proc::cpu_seconds);
    let (cpu, base_cpu) = (cpu_seconds("self"), server_cpu());
    let run = openloop::run(&url, vec![mint_request(&env)?], rate, Duration::from_secs(seconds))?;
    let (cpu, base_cpu) = (cpu_seconds("self") - cpu, server_cpu() - base_cpu);
    let ms = |v: Option<f64>| v.unwrap_or(f64::NAN);
    println!(
        "offered {rate:.0}/s, achieved {:.0}/s; p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms; non-2xx {}, \
         errors {}; {} connections; schedule late by at most {:.3} ms; CPU: generator {cpu:.1} s, baseline \
         {base_cpu:.1} s",
        run.requests_per_second,
        run.p50_ms,
        run.p99_ms,
        ms(run.p99_9_ms),
        ms(run.max_ms),
        run.non_success,
        run.socket_errors,
        run.connections.unwrap_or(0),
        ms(run.schedule_late_max_ms),
    );
    Ok(())
}

/// `count` never-used links for an open-loop redeem run, minted at full speed just before it
/// (for as long as the run lasts: about twice what half the rate needs).
pub fn fresh_links(
    target: &Target,
    dir: &Path,
    seconds: u64,
    connections: u32,
    count: usize,
) -> Result<Vec<Request>, String> {
    let (file, minted) = mint_links(target, dir, seconds, connections)?;
    if minted < count {
        eprintln!("warning: an open-loop redeem run needs {count} links but only {minted} were minted");
    }
    let paths = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
    paths.lines().take(count).map(|path| Request::new(Method::GET, path.to_owned(), &[], "")).collect()
}

/// `count` requests to `path`, each a distinct event signed as `inbound.lua` sends them.
pub fn signed_requests(secret: &str, email: &str, path: &str, count: usize) -> Result<Vec<Request>, String> {
    let mut requests = Vec::with_capacity(count);
    sign_events(secret, email, count, |timestamp, signature, body| {
        let headers =
            [("content-type", "application/json"), ("vinst-timestamp", timestamp), ("vinst-signature", signature)];
        requests.push(Request::new(Method::POST, path.to_owned(), &headers, body)?);
        Ok(())
    })?;
    Ok(requests)
}

/// `mint`, alone and with a webhook audit stream active, in alternating runs on the same server
/// (so the machine's drift over a minute falls on both alike): a receiver on this machine
/// (verifying every delivery's Standard Webhooks signature) gets every audit record. For a run
/// without the stream the stream is paused; it is resumed and drained between runs (not timed),
/// so each run with it starts caught up. The lag right after each run with the stream says
/// whether delivery kept up, and the receiver's count at the end whether every record arrived.
async fn mint_and_stream_runs(
    target: &Target,
    me: &Path,
    args: &RunArgs,
    database_cpu: impl Fn() -> f64,
) -> Result<(Scenario, Scenario), String> {
    let mut command = Command::new(me);
    command.arg("receiver");
    let receiver = Proc::spawn(command, "listening ")?;
    // A new connection per call: a kept-alive one would sit idle through the runs, and the
    // server closes idle connections.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().map_err(|e| e.to_string())?;
    let fail = |e: reqwest::Error| e.to_string();
    let streams = format!("{}/admin/v1/streams", target.url);
    let created: Value = http
        .post(&streams)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "bench", "kind": "webhook", "url": format!("http://{}/", receiver.addr)}))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fail)?
        .json()
        .await
        .map_err(fail)?;
    let (id, secret) = (created["id"].as_str().unwrap_or_default(), created["secret"].as_str().unwrap_or_default());
    http.put(format!("http://{}/secret", receiver.addr))
        .body(secret.to_owned())
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fail)?;
    let admin = |verb: &'static str| http.post(format!("{streams}/{id}/{verb}")).bearer_auth(ADMIN_TOKEN).send();
    let lag_records = || async {
        let status: Value = http
            .get(format!("{streams}/{id}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .map_err(fail)?
            .json()
            .await
            .map_err(fail)?;
        Ok::<u64, String>(status["lag_records"].as_u64().unwrap_or_default())
    };
    // Waits (bounded) until the stream has delivered everything.
    let drain = || async {
        for _ in 0..600 {
            if lag_records().await? == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok::<(), String>(())
    };
    let url = format!("{}/v1/sso", target.url);
    let (mut alone, mut streamed, mut lags) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_alone, mut cpu_streamed, mut cpu_database, mut cpu_receiver) = (0.0, 0.0, 0.0, 0.0);
    for _ in 0..args.runs {
        admin("pause").await.and_then(reqwest::Response::error_for_status).map_err(fail)?;
        let (cpu, db) = (target.proc.cpu_seconds(), database_cpu());
        alone.push(wrk("mint.lua", &url, &target.env, args.duration, args.connections)?);
        (cpu_alone, cpu_database) = (cpu_alone + target.proc.cpu_seconds() - cpu, cpu_database + database_cpu() - db);
        admin("resume").await.and_then(reqwest::Response::error_for_status).map_err(fail)?;
        drain().await?;
        let (cpu, rcpu) = (target.proc.cpu_seconds(), receiver.cpu_seconds());
        streamed.push(wrk("mint.lua", &url, &target.env, args.duration, args.connections)?);
        (cpu_streamed, cpu_receiver) =
            (cpu_streamed + target.proc.cpu_seconds() - cpu, cpu_receiver + receiver.cpu_seconds() - rcpu);
        lags.push(lag_records().await?);
        drain().await?;
    }
    let received: u64 = http
        .get(format!("http://{}/count", receiver.addr))
        .send()
        .await
        .map_err(fail)?
        .text()
        .await
        .map_err(fail)?
        .trim()
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())?;
    http.delete(format!("{streams}/{id}")).bearer_auth(ADMIN_TOKEN).send().await.map_err(fail)?;
    let minted: u64 = alone.iter().chain(&streamed).map(|run| run.requests).sum();
    let mut what = format!("POST /v1/sso (CPU during the runs: handoff {cpu_alone:.1} s");
    if cpu_database > 0.0 {
        what += &format!(", PostgreSQL {cpu_database:.1} s");
    }
    let what_streamed = format!(
        "POST /v1/sso with a webhook audit stream delivering every record to a verifying receiver, runs \
         alternating with mint's (lag right after each run: {lags:?} records; received {received} records for \
         {minted} mints of both; CPU during the runs: handoff {cpu_streamed:.1} s, receiver {cpu_receiver:.1} s)"
    );
    Ok((median("mint", &format!("{what})"), alone), median("mint + stream", &what_streamed, streamed)))
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Signs `count` distinct events for `email`, one request per line, for `inbound.lua`.
pub fn write_events(path: &Path, secret: &str, email: &str, count: usize) -> Result<(), String> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
    sign_events(secret, email, count, |timestamp, signature, body| {
        writeln!(out, "{timestamp}\t{signature}\t{body}").map_err(|e| e.to_string())
    })?;
    out.flush().map_err(|e| e.to_string())
}

/// Signs `count` distinct events for `email` as the sender would, and hands each to `each` as
/// (timestamp, signature, body).
fn sign_events(
    secret: &str,
    email: &str,
    count: usize,
    mut each: impl FnMut(&str, &str, &str) -> Result<(), String>,
) -> Result<(), String> {
    #[allow(clippy::disallowed_methods)]
    let now = time::OffsetDateTime::now_utc();
    let timestamp = now.unix_timestamp().to_string();
    let event_time = now.format(&time::format_description::well_known::Rfc3339).map_err(|e| e.to_string())?;
    for _ in 0..count {
        let body = json!({
            "eventId": uuid::Uuid::new_v4().to_string(), "eventType": "Vinst_SSO", "eventTimestamp": event_time,
            "data": {"email": email, "firstName": "Turid", "lastName": "Jensen", "orgNo": "123456789"}
        })
        .to_string();
        let signature = SignatureProfile::TimestampBodyHex
            .sign(&[secret], "", &timestamp, body.as_bytes())
            .map_err(|e| e.to_string())?;
        each(&timestamp, &signature, &body)?;
    }
    Ok(())
}

/// A live top-level session cookie (`name=value`) for the fixture's user.
fn session_cookie(target: &Target, dir: &Path) -> Result<String, String> {
    let (file, _) = mint_links(target, dir, 1, 1)?;
    let path = std::fs::read_to_string(&file).map_err(|e| e.to_string())?.lines().next().ok_or("no link")?.to_owned();
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-D", "-"])
        .arg(format!("{}{path}", target.url))
        .output()
        .map_err(|e| e.to_string())?;
    let headers = String::from_utf8_lossy(&output.stdout);
    headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie:")
                .then(|| l[11..].trim().split(';').next().unwrap_or("").to_owned())
        })
        .ok_or_else(|| "no session cookie".into())
}

fn print_table(scenarios: &[Scenario], memory: &BTreeMap<String, f64>, args: &RunArgs, backend: &str) {
    println!(
        "\nhandoff benchmark on {backend}\nthroughput: wrk -t1 -c{} -d{}s; @half rows: open loop (a fixed arrival \
         rate, latency from each request's intended start); median of {} runs, {} cores (the load generators \
         share them)\n",
        args.connections,
        args.duration,
        args.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<24} {:>10} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  what",
        "scenario", "requests/s", "offered", "p50 ms", "p99 ms", "p99.9 ms", "vs base", "non-2xx", "errors"
    );
    // An open-loop row has an offered rate and a p99.9; a closed-loop one a ratio to the baseline.
    let or_dash = |v: Option<f64>, decimals: usize| v.map_or("—".to_owned(), |v| format!("{v:.decimals$}"));
    for s in scenarios {
        println!(
            "{:<24} {:>10.0} {:>9} {:>8.2} {:>8.2} {:>8} {:>8} {:>8} {:>8}  {}",
            s.name,
            s.median.requests_per_second,
            or_dash(s.median.offered_per_second, 0),
            s.median.p50_ms,
            s.median.p99_ms,
            or_dash(s.median.p99_9_ms, 2),
            s.ratio_to_baseline.map_or("—".to_owned(), |r| format!("{:.1}%", r * 100.0)),
            s.median.non_success,
            s.median.socket_errors,
            s.what
        );
    }
    println!();
    for (name, mib) in memory {
        println!("peak resident memory of {name}: {mib:.1} MiB");
    }
}
