//! `handoff audit export`: the audit records of a time range as JSON lines or CSV, oldest first,
//! to archive them before `audit_retention_days` deletes them. The lines are
//! `handoff_core::export`'s: the admin API's record shape, and byte for byte what the console's
//! export writes.
//!
//! Like `handoff migrate` it opens the configured database in place, with the configuration of
//! `serve` (`--config`, `HANDOFF_*`, flags), and reads it a page at a time ([`PAGE`] records, by
//! `(at, id)` through the index on `at`), so it works at any size and on a live installation
//! (SQLite's readers do not block its writer). The export is the log as it was when it started,
//! and is itself audited (`audit.export`, with `via=cli`) before its first record is read.
//!
//! Must not: migrate or otherwise change the database beyond that one record, or hold the set in
//! memory.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use handoff_core::export::{rfc3339, Format};
use handoff_core::model::{AuditEvent, AuditFilter, AuditRange};
use handoff_core::store::{Audit as _, Journal as _, Write};
use handoff_core::{Clock as _, SystemClock};
use handoff_store::SqlStore;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// Records per read of the database.
const PAGE: u32 = 1000;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Write the audit records written in [--since, --until) as JSON lines or CSV, oldest first,
    /// straight from the configured database (no server or admin token needed). Audited as
    /// `audit.export`.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct ExportArgs {
    /// The first time exported (inclusive): RFC 3339 (`2025-06-01T00:00:00Z`), a date
    /// (`2025-06-01`, midnight UTC) or Unix seconds [default: the oldest record].
    #[arg(long)]
    since: Option<String>,
    /// The end (exclusive), in the same forms [default: none, up to the newest record].
    #[arg(long)]
    until: Option<String>,
    /// `jsonl`: one record a line, the admin API's JSON; `csv`: a header row, then one row a
    /// record (cells that a spreadsheet would run as a formula get a leading `'`).
    #[arg(long, value_enum, default_value = "jsonl")]
    format: ExportFormat,
    /// Write to this file (created with mode 0600; an existing file is never overwritten, and a
    /// failed export removes it) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    target: crate::Local,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Self {
        match format {
            ExportFormat::Jsonl => Format::JsonLines,
            ExportFormat::Csv => Format::Csv,
        }
    }
}

pub async fn run(command: AuditCommand) -> Result<(), String> {
    match command {
        AuditCommand::Export(args) => export(args).await,
    }
}

async fn export(args: ExportArgs) -> Result<(), String> {
    let since = args.since.as_deref().map(|text| bound("--since", text)).transpose()?;
    let until = args.until.as_deref().map(|text| bound("--until", text)).transpose()?;
    if let (Some(since), Some(until)) = (since, until) {
        if since >= until {
            return Err(format!("--since ({}) must be before --until ({})", rfc3339(since), rfc3339(until)));
        }
    }
    let format = Format::from(args.format);
    let settings = args.target.settings()?;
    crate::init_logging(settings.log_format);
    let store = SqlStore::open_existing(&settings.database_url, &settings.pool)
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let status = store.migration_status().await.map_err(|e| e.to_string())?;
    let pending = status.iter().filter(|(_, _, applied)| !applied).count();
    if pending > 0 {
        return Err(format!(
            "the database schema is behind this handoff ({pending} pending migrations): run `handoff migrate` first"
        ));
    }

    let mut out = Output::open(args.output.as_deref())?;
    let result = async {
        let newest =
            store.audit(&AuditFilter { limit: 1, ..AuditFilter::default() }).await.map_err(|e| e.to_string())?;
        let newest = newest.first().map_or(0, |record| record.id);
        let text = |t: Option<i64>| t.map_or_else(|| "-".to_owned(), rfc3339);
        let detail = format!("format={} since={} until={} via=cli", format.name(), text(since), text(until));
        let event = AuditEvent { kind: "audit.export".into(), detail: Some(detail), ..AuditEvent::default() }
            .accepted(SystemClock.unix(), "ok");
        store.commit(vec![Write::Audit(event)]).await.map_err(|e| format!("cannot audit the export: {e}"))?;
        let range = AuditRange { since, until, newest, after: None, limit: PAGE };
        copy(&store, range, format, &mut out.writer).await
    }
    .await;
    match result {
        Ok(count) => {
            out.finish()?;
            eprintln!("handoff: exported {count} audit records");
            Ok(())
        }
        Err(message) => {
            out.abandon();
            Err(message)
        }
    }
}

/// Writes the records of `range`, page by page; returns how many.
async fn copy(
    store: &SqlStore,
    mut range: AuditRange,
    format: Format,
    out: &mut impl io::Write,
) -> Result<u64, String> {
    let write_error = |e: io::Error| format!("cannot write the export: {e}");
    out.write_all(format.header().as_bytes()).map_err(write_error)?;
    let mut count = 0;
    let mut text = String::new();
    loop {
        let page = store.audit_range(&range).await.map_err(|e| e.to_string())?;
        text.clear();
        format.render(&page, &mut text).map_err(|e| e.to_string())?;
        out.write_all(text.as_bytes()).map_err(write_error)?;
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == PAGE as usize => range.after = Some((last.event.at, last.id)),
            _ => return Ok(count),
        }
    }
}

/// Where the export goes: standard output, or a new file that a failed export removes.
struct Output {
    writer: BufWriter<Box<dyn io::Write>>,
    path: Option<PathBuf>,
}

impl Output {
    fn open(path: Option<&Path>) -> Result<Self, String> {
        let Some(path) = path else {
            return Ok(Self { writer: BufWriter::new(Box::new(io::stdout())), path: None });
        };
        let mut options = File::options();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                format!("{} exists already: the export never overwrites a file", path.display())
            }
            _ => format!("cannot create {}: {e}", path.display()),
        })?;
        Ok(Self { writer: BufWriter::new(Box::new(file)), path: Some(path.to_owned()) })
    }

    fn finish(mut self) -> Result<(), String> {
        self.writer.flush().map_err(|e| format!("cannot write the export: {e}"))
    }

    /// Drops what was written; a file is removed, so no partial archive is left behind.
    fn abandon(self) {
        let Self { writer, path } = self;
        drop(writer);
        if let Some(path) = path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A range bound: RFC 3339, a date (midnight UTC) or Unix seconds.
fn bound(flag: &str, text: &str) -> Result<i64, String> {
    let text = text.trim();
    text.parse::<i64>()
        .ok()
        .or_else(|| OffsetDateTime::parse(text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp))
        .or_else(|| {
            Date::parse(text, format_description!("[year]-[month]-[day]"))
                .ok()
                .map(|date| date.midnight().assume_utc().unix_timestamp())
        })
        .ok_or_else(|| {
            format!("{flag} {text:?} is not a time: use RFC 3339 (2025-06-01T00:00:00Z), a date (2025-06-01) or Unix seconds")
        })
}

#[cfg(test)]
mod tests {
    use super::bound;

    #[test]
    fn bounds_are_rfc3339_dates_or_unix_seconds() {
        assert_eq!(bound("--since", "2025-06-01T09:00:00Z"), Ok(1_748_768_400));
        assert_eq!(bound("--since", "2025-06-01T11:00:00+02:00"), Ok(1_748_768_400));
        assert_eq!(bound("--since", "2025-06-01"), Ok(1_748_736_000));
        assert_eq!(bound("--since", "1748736000"), Ok(1_748_736_000));
        for bad in ["", "yesterday", "2025-13-01", "2025-06-01T09:00"] {
            assert!(bound("--since", bad).unwrap_err().starts_with("--since"), "{bad}");
        }
    }
}
