//! The scale scenario: mint and redeem again with 1 million users and 10 million audit rows in
//! the database, to show the hot path does not grow with the data; and the console's overview
//! numbers (`GET /admin/v1/stats`) over those rows, to show the 30-day overview does not either.

use std::path::Path;
use std::process::Command;

use crate::{median, mint_runs, redeem_runs, repo_root, start_handoff, wrk, RunArgs, Scenario, ADMIN_TOKEN};

/// The span the seeded audit rows cover, ending now: the overview's 30 days.
const SPAN: i64 = 30 * 86_400;

/// Fills a fresh database, then measures mint, redeem and the stats on it.
pub async fn run(work: &Path, args: &RunArgs) -> Result<Vec<Scenario>, String> {
    let data = work.join("scale");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let migrate = Command::new(repo_root().join("target/release/handoff"))
        .args(["migrate", "--data-dir"])
        .arg(&data)
        .status()
        .map_err(|e| e.to_string())?;
    if !migrate.success() {
        return Err("handoff migrate failed".into());
    }
    let rows = args.scale_audit_rows;
    fill(&data.join("handoff.db"), rows)?;
    let target = start_handoff(&data, None).await?;
    let audit = if rows == 10_000_000 { "10 M".to_owned() } else { rows.to_string() };
    let mint =
        median("mint @1M users", &format!("POST /v1/sso, 1 M users and {audit} audit rows"), mint_runs(&target, args)?);
    let redeem = median(
        "redeem @1M users",
        &format!("GET /auth/sso, 1 M users and {audit} audit rows"),
        redeem_runs(&target, work, args)?,
    );
    // Latency, not throughput: one connection asking again as soon as it has its answer.
    let env = [("HB_ADMIN_TOKEN", ADMIN_TOKEN.to_owned())];
    let runs: Result<Vec<_>, _> = (0..args.runs)
        .map(|_| wrk("stats.lua", &format!("{}/admin/v1/stats", target.url), &env, args.duration, 1))
        .collect();
    let name = if rows == 10_000_000 { "stats @10M audit".to_owned() } else { format!("stats @{rows} audit") };
    let stats = median(
        &name,
        &format!("GET /admin/v1/stats (the 30-day overview) over {audit} audit rows, one connection"),
        runs?,
    );
    Ok(vec![mint, redeem, stats])
}

/// One organization with a million users, and `audit_rows` audit rows over the last 30 days (a
/// mix of surfaces, outcomes and reasons), in plain SQL; then the hourly rollup of those rows,
/// grouped exactly as migration 0007 backfills it (the journal keeps it from then on).
fn fill(db: &Path, audit_rows: u64) -> Result<(), String> {
    #[allow(clippy::disallowed_methods)]
    let start = time::OffsetDateTime::now_utc().unix_timestamp() - SPAN;
    let sql = format!(
        "
        PRAGMA journal_mode = WAL;
        INSERT INTO organizations (id, name, secret_digest, created_at)
            VALUES ('00000000-0000-4000-8000-000000000000', 'Scale', zeroblob(32), 0);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
        INSERT INTO users (id, organization_id, email, given_name, family_name, status, created_at)
            SELECT printf('%08x-0000-4000-8000-%012x', i, i), '00000000-0000-4000-8000-000000000000',
                   printf('user%d@scale.example', i), 'Scale', 'User', 'active', 0 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {audit_rows})
        INSERT INTO audit_log (at, kind, outcome, reason, partner_id, organization_id, user_id, client_addr, request_id, detail)
            SELECT {start} + i * {SPAN} / {audit_rows},
                   CASE WHEN i % 10 < 5 THEN 'sso.mint' WHEN i % 10 < 9 THEN 'sso.redeem' ELSE 'inbound.sso' END,
                   CASE WHEN i % 13 = 0 THEN 'refused' ELSE 'accepted' END,
                   CASE WHEN i % 13 <> 0 THEN 'ok' WHEN i % 3 = 0 THEN 'authentication-required'
                        WHEN i % 3 = 1 THEN 'token-already-used' ELSE 'forbidden' END,
                   NULL, '00000000-0000-4000-8000-000000000000',
                   printf('%08x-0000-4000-8000-%012x', i % 1000000 + 1, i % 1000000 + 1), '127.0.0.1', NULL, NULL FROM n;
        DELETE FROM audit_counts;
        INSERT INTO audit_counts (hour, kind, outcome, reason, count)
            SELECT at - at % 3600, kind, COALESCE(outcome, ''), reason, COUNT(*)
            FROM audit_log
            GROUP BY at - at % 3600, kind, COALESCE(outcome, ''), reason;
    "
    );
    let status = Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .status()
        .map_err(|e| format!("sqlite3 (apt-get install sqlite3): {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("filling the scale database failed".into())
    }
}
