//! handoff-bench: measures handoff's SSO hop with wrk against the practical limit of the same
//! HTTP stack (an axum handler taking the same request shape) and against a peer
//! (node-oidc-provider's client-credentials token endpoint), all in one run on this machine.
//!
//! `bench/run` builds in release mode and runs `handoff-bench run`; the table goes to stdout and
//! the figures to `bench/results/latest.json`. A benchmark is a report, not a test: nothing here
//! asserts a number.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clap::{Parser, Subcommand};
use handoff_webhook::SignatureProfile;
use serde::Serialize;
use serde_json::{json, Value};

mod baseline;
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
    /// Where the JSON report goes.
    #[arg(long, default_value = "bench/results/latest.json")]
    output: PathBuf,
}

pub const ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdefghijklmnop";

fn main() -> Result<(), String> {
    match Cli::parse().command {
        Cmd::Baseline => baseline::serve(),
        Cmd::Receiver => receiver::serve(),
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

    /// CPU time (user + system) the process has used so far, in seconds (Linux clock ticks of
    /// 1/100 s).
    pub fn cpu_seconds(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .ok()
            .and_then(|stat| {
                // After the command name in parentheses: state is field 3, utime 14, stime 15.
                let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
                let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
                Some((ticks(11)? + ticks(12)?) / 100.0)
            })
            .unwrap_or(0.0)
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

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One wrk run, parsed.
#[derive(Debug, Clone, Serialize)]
pub struct WrkRun {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub requests: u64,
    pub non_success: u64,
    pub socket_errors: u64,
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

fn parse_wrk(output: &str) -> Result<WrkRun, String> {
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
    Ok(WrkRun {
        requests_per_second: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no Requests/sec in:\n{output}"))?,
        p50_ms: percentile("50%").unwrap_or(f64::NAN),
        p99_ms: percentile("99%").unwrap_or(f64::NAN),
        requests,
        non_success: field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
        socket_errors,
    })
}

/// Runs wrk with `script` against `url`.
pub fn wrk(script: &str, url: &str, env: &[(&str, String)], seconds: u64, connections: u32) -> Result<WrkRun, String> {
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

/// The median run of a scenario, by requests per second.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: String,
    pub what: String,
    pub median: WrkRun,
    pub runs: Vec<WrkRun>,
    pub ratio_to_baseline: Option<f64>,
}

fn median(name: &str, what: &str, mut runs: Vec<WrkRun>) -> Scenario {
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

/// Starts the release handoff binary on `data_dir` and creates the fixtures.
pub async fn start_handoff(data_dir: &Path) -> Result<Target, String> {
    let mut command = Command::new(repo_root().join("target/release/handoff"));
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(["--admin-token", ADMIN_TOKEN, "--failed-auth-limit", "1000000", "--partner-rate-limit", "0"])
        // The stream scenario's receiver is on loopback; the paced runs open more connections
        // from one address than the per-client cap (64) lets in.
        .arg("--allow-private-endpoints")
        .args(["--max-connections-per-client", "4096"])
        .env("RUST_LOG", "warn");
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

/// How long each connection of a paced run waits before each request.
const PACE_MS: u32 = 10;

/// How a scenario is loaded: flat out with `connections`, or paced at about `rate` requests/s.
#[derive(Clone, Copy)]
pub enum Load {
    Full,
    Paced { rate: f64 },
}

impl Load {
    /// wrk's connections and the extra script variables for this load. A paced run opens enough
    /// connections that each, waiting [`PACE_MS`] and about a millisecond for its answer, adds
    /// up to `rate` (the achieved rate is measured and reported, not assumed).
    fn apply(self, args: &RunArgs, env: &mut Vec<(&'static str, String)>) -> u32 {
        match self {
            Load::Full => args.connections,
            Load::Paced { rate } => {
                env.push(("HB_DELAY_MS", PACE_MS.to_string()));
                ((rate * f64::from(PACE_MS + 1) / 1000.0).ceil() as u32).max(1)
            }
        }
    }
}

/// Mints links for `seconds` at full speed and returns the file of their paths and its count.
fn mint_links(target: &Target, dir: &Path, seconds: u64, connections: u32) -> Result<(PathBuf, usize), String> {
    let file = dir.join(format!("links-{}.txt", uuid::Uuid::new_v4()));
    let mut env = target.env.clone();
    env.push(("HB_COLLECT", file.display().to_string()));
    wrk("mint.lua", &format!("{}/v1/sso", target.url), &env, seconds, connections)?;
    let count = std::fs::read_to_string(&file).map_err(|e| e.to_string())?.lines().count();
    Ok((file, count))
}

/// Redemptions with never-used links; flags runs that ran out of links.
pub fn redeem_runs(target: &Target, dir: &Path, args: &RunArgs, load: Load) -> Result<Vec<WrkRun>, String> {
    let mut runs = Vec::new();
    for _ in 0..args.runs {
        let (file, count) = mint_links(target, dir, args.duration * 2, args.connections)?;
        let mut env = vec![("HB_TOKENS", file.display().to_string())];
        let connections = load.apply(args, &mut env);
        let run = wrk("redeem.lua", &target.url, &env, args.duration, connections)?;
        if run.requests > count as u64 {
            eprintln!("warning: redeem used {} requests but only {count} links were minted", run.requests);
        }
        runs.push(run);
    }
    Ok(runs)
}

pub fn mint_runs(target: &Target, args: &RunArgs, load: Load) -> Result<Vec<WrkRun>, String> {
    let mut env = target.env.clone();
    let connections = load.apply(args, &mut env);
    (0..args.runs)
        .map(|_| wrk("mint.lua", &format!("{}/v1/sso", target.url), &env, args.duration, connections))
        .collect()
}

async fn run(args: RunArgs) -> Result<(), String> {
    let work = std::env::temp_dir().join(format!("handoff-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let mut scenarios = Vec::new();
    let mut memory = BTreeMap::new();

    // (e) The baseline: same stack, same request shape, a trivial handler.
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = Command::new(&me);
    command.arg("baseline");
    let base = Proc::spawn(command, "listening ")?;
    let env_base = [
        ("HB_PARTNER_ID", "p".to_owned()),
        ("HB_PARTNER_SECRET", "s".to_owned()),
        ("HB_ORG_ID", "o".to_owned()),
        ("HB_ORG_SECRET", "s".to_owned()),
        ("HB_USER_ID", "u".to_owned()),
    ];
    let runs: Result<Vec<_>, _> = (0..args.runs)
        .map(|_| wrk("mint.lua", &format!("http://{}/v1/sso", base.addr), &env_base, args.duration, args.connections))
        .collect();
    scenarios.push(median("baseline", "axum on tokio: the five headers and the JSON body, a small JSON answer", runs?));
    memory.insert("baseline".to_owned(), base.peak_rss_mib());
    drop(base);

    // (a)–(d) handoff on a fresh SQLite database.
    let data = work.join("data");
    let target = start_handoff(&data).await?;
    let cpu = target.proc.cpu_seconds();
    let mint = mint_runs(&target, &args, Load::Full)?;
    let what = format!("POST /v1/sso (CPU during the runs: handoff {:.1} s)", target.proc.cpu_seconds() - cpu);
    scenarios.push(median("mint", &what, mint));
    // Right after it, the same with a webhook audit stream delivering every record.
    let streamed = stream_runs(&target, &me, &args).await?;
    let redeem =
        median("redeem", "GET /auth/sso, a fresh link every request", redeem_runs(&target, &work, &args, Load::Full)?);
    scenarios.push(redeem);
    // Latency at half of each one's maximum throughput, paced (wrk's delay), not flat out.
    let half = scenarios[1].median.requests_per_second / 2.0;
    let what = format!("POST /v1/sso paced at half of mint's maximum ({half:.0}/s offered)");
    scenarios.push(median("mint @half", &what, mint_runs(&target, &args, Load::Paced { rate: half })?));
    let half = scenarios[2].median.requests_per_second / 2.0;
    let what = format!("GET /auth/sso paced at half of redeem's maximum ({half:.0}/s offered)");
    scenarios.push(median("redeem @half", &what, redeem_runs(&target, &work, &args, Load::Paced { rate: half })?));

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
    let mut inbound = Vec::new();
    for _ in 0..args.runs {
        let events = work.join(format!("events-{}.txt", uuid::Uuid::new_v4()));
        write_events(&events, &secret, &target.user_email, 40_000 * args.duration as usize)?;
        inbound.push(wrk(
            "inbound.lua",
            &target.url,
            &[("HB_EVENTS", events.display().to_string()), ("HB_PATH", "/v1/inbound/bench/sso".into())],
            args.duration,
            args.connections,
        )?);
    }
    scenarios.push(median("inbound", "POST /v1/inbound/{slug}/sso, a distinct signed event every request", inbound));

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

    let baseline_rps = scenarios[0].median.requests_per_second;
    for scenario in &mut scenarios {
        scenario.ratio_to_baseline = Some(scenario.median.requests_per_second / baseline_rps);
    }
    print_table(&scenarios, &memory, &args);
    let report = json!({
        "machine": {"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)},
        "load_generator": format!("wrk -t1 -c{} -d{}s --latency", args.connections, args.duration),
        "runs_per_scenario": args.runs,
        "scenarios": scenarios,
        "peak_rss_mib": memory,
    });
    let output = repo_root().join(&args.output);
    std::fs::write(&output, serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    println!("\nwritten: {}", output.display());
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// `mint` with a webhook audit stream active: a receiver on this machine (verifying every
/// delivery's Standard Webhooks signature) gets every audit record the runs commit. The stream is
/// deleted afterwards; its lag right after the last run says whether delivery kept up, and the
/// receiver's count whether every record arrived.
async fn stream_runs(target: &Target, me: &Path, args: &RunArgs) -> Result<Scenario, String> {
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
    let (handoff_cpu, receiver_cpu) = (target.proc.cpu_seconds(), receiver.cpu_seconds());
    let runs = mint_runs(target, args, Load::Full)?;
    let (handoff_cpu, receiver_cpu) = (target.proc.cpu_seconds() - handoff_cpu, receiver.cpu_seconds() - receiver_cpu);
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
    let lag = lag_records().await?;
    // Let it drain (bounded), then compare what arrived with what the runs minted.
    for _ in 0..300 {
        if lag_records().await? == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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
    let minted: u64 = runs.iter().map(|run| run.requests).sum();
    let what = format!(
        "POST /v1/sso with a webhook audit stream delivering every record to a verifying receiver \
         (lag right after the last run: {lag} records; received {received} records for {minted} mints; CPU \
         during the runs: handoff {handoff_cpu:.1} s, receiver {receiver_cpu:.1} s)"
    );
    Ok(median("mint + stream", &what, runs))
}

fn base64_basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// Signs `count` distinct events for `email`, one request per line, for `inbound.lua`.
fn write_events(path: &Path, secret: &str, email: &str, count: usize) -> Result<(), String> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(|e| e.to_string())?);
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
        writeln!(out, "{timestamp}\t{signature}\t{body}").map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
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

fn print_table(scenarios: &[Scenario], memory: &BTreeMap<String, f64>, args: &RunArgs) {
    println!(
        "\nhandoff benchmark — wrk -t1 -c{} -d{}s, median of {} runs, {} cores (the load generator shares them)\n",
        args.connections,
        args.duration,
        args.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:<16} {:>12} {:>10} {:>10} {:>10} {:>9}  what",
        "scenario", "requests/s", "p50 ms", "p99 ms", "vs base", "non-2xx"
    );
    for s in scenarios {
        println!(
            "{:<16} {:>12.0} {:>10.2} {:>10.2} {:>9.1}% {:>9}  {}",
            s.name,
            s.median.requests_per_second,
            s.median.p50_ms,
            s.median.p99_ms,
            s.ratio_to_baseline.unwrap_or(0.0) * 100.0,
            s.median.non_success,
            s.what
        );
    }
    println!();
    for (name, mib) in memory {
        println!("peak resident memory of {name}: {mib:.1} MiB");
    }
}
