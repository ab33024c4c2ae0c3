//! The scale scenario: mint and redeem again with 1 million users and 10 million audit rows in
//! the database, to show the hot path does not grow with the data.

use std::path::Path;
use std::process::Command;

use crate::{median, mint_runs, redeem_runs, repo_root, start_handoff, Load, RunArgs, Scenario};

/// Fills a fresh database, then measures mint and redeem on it.
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
    fill(&data.join("handoff.db"))?;
    let target = start_handoff(&data).await?;
    let mint =
        median("mint @1M users", "POST /v1/sso, 1 M users and 10 M audit rows", mint_runs(&target, args, Load::Full)?);
    let redeem = median(
        "redeem @1M users",
        "GET /auth/sso, 1 M users and 10 M audit rows",
        redeem_runs(&target, work, args, Load::Full)?,
    );
    Ok(vec![mint, redeem])
}

/// One organization with a million users, and ten million audit rows, in plain SQL.
fn fill(db: &Path) -> Result<(), String> {
    let sql = "
        PRAGMA journal_mode = WAL;
        INSERT INTO organizations (id, name, secret_digest, created_at)
            VALUES ('00000000-0000-4000-8000-000000000000', 'Scale', zeroblob(32), 0);
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000)
        INSERT INTO users (id, organization_id, email, given_name, family_name, status, created_at)
            SELECT printf('%08x-0000-4000-8000-%012x', i, i), '00000000-0000-4000-8000-000000000000',
                   printf('user%d@scale.example', i), 'Scale', 'User', 'active', 0 FROM n;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000)
        INSERT INTO audit_log (at, kind, outcome, reason, partner_id, organization_id, user_id, client_addr, request_id, detail)
            SELECT 1700000000 + i, 'sso.mint', 'accepted', 'minted', NULL, '00000000-0000-4000-8000-000000000000',
                   printf('%08x-0000-4000-8000-%012x', i % 1000000 + 1, i % 1000000 + 1), '127.0.0.1', NULL, NULL FROM n;
    ";
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
