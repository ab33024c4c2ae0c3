//! `handoff db copy` and `handoff db backup`: the operator's way to move and back up the
//! database, on the host, without a server or the admin token.
//!
//! Owns: the command line and what it prints (progress on stderr, the summary on stdout).
//! Must not: know the schema or the backends (`handoff_store::transfer` does), or print a
//! database password (`transfer::redact`).

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use clap::Subcommand;
use handoff_server::app::MASTER_KEY_FILE;
use handoff_store::transfer::{self, redact, Progress};
use handoff_store::PoolSettings;

use crate::Local;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Copy every table of a stopped SQLite installation into an empty PostgreSQL database that
    /// `handoff migrate` brought to the same schema version. Sealed keys and secrets are copied
    /// sealed: serve the copy with the same master key.
    Copy {
        /// The SQLite database, e.g. sqlite:///var/lib/handoff/handoff.db (opened read-only).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database, e.g. postgres://handoff@db.internal/handoff. Leave the password
        /// out and set PGPASSWORD (or use ~/.pgpass) to keep it off the command line.
        #[arg(long)]
        to: String,
        /// Rows per INSERT.
        #[arg(long, default_value_t = transfer::DEFAULT_BATCH)]
        batch: usize,
    },
    /// A consistent copy of the SQLite database into the new file PATH, while handoff serves
    /// (VACUUM INTO). Takes the configuration of `serve`. Keep the master key apart from it.
    Backup {
        /// The backup file to create; an existing file is refused.
        path: PathBuf,
        #[command(flatten)]
        target: Box<Local>,
    },
}

pub async fn run(command: DbCommand) -> Result<(), String> {
    match command {
        DbCommand::Copy { from, to, batch } => copy(&from, &to, batch).await,
        DbCommand::Backup { path, target } => backup(path, target).await,
    }
}

async fn copy(from: &str, to: &str, batch: usize) -> Result<(), String> {
    let started = Instant::now();
    eprintln!("copying {} into {}", redact(from), redact(to));
    let mut stderr = std::io::stderr();
    // One line per batch, and one per table however small.
    let mut report = |p: Progress<'_>| {
        let _ = writeln!(stderr, "{}: {}/{}", p.table, p.rows, p.total);
    };
    let now = handoff_core::Clock::unix(&handoff_core::SystemClock);
    let copied = transfer::copy(from, to, &PoolSettings::default(), batch, now, &mut report)
        .await
        .map_err(|e| format!("db copy: {e}"))?;
    let total: u64 = copied.tables.iter().map(|(_, rows)| rows).sum();
    println!("copied {} tables, {total} rows, schema version {}:", copied.tables.len(), copied.version);
    let width = copied.tables.iter().map(|(t, _)| t.len()).max().unwrap_or(0);
    for (table, rows) in &copied.tables {
        println!("  {table:<width$}  {rows:>10}");
    }
    for (table, column, next) in &copied.sequences {
        println!("  sequence of {table}.{column} continues at {next}");
    }
    println!(
        "row counts verified in both databases; committed in {:.1} s. Serve the PostgreSQL database with the \
         same master_key as the SQLite installation.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn backup(path: PathBuf, target: Box<Local>) -> Result<(), String> {
    let settings = target.settings()?;
    let database_url = settings.database_url.clone();
    let written = tokio::task::spawn_blocking(move || transfer::backup(&database_url, &path))
        .await
        .map_err(|e| format!("db backup: {e}"))?
        .map_err(|e| format!("db backup: {e}"))?;
    println!(
        "backup written: {} ({} bytes, schema version {}, integrity check ok)",
        written.path.display(),
        written.bytes,
        written.version
    );
    let key = match settings.master_key {
        Some(_) => "the configured master key (master_key)".to_owned(),
        None => format!("the master key file {}", settings.data_dir.join(MASTER_KEY_FILE).display()),
    };
    println!(
        "The backup holds sealed signing keys and webhook secrets: it is useless without {key}. Keep a copy \
         of the key, but not next to this backup."
    );
    Ok(())
}
