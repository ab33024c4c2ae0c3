//! `handoff audit export`: the real binary reads the server's database while the server runs, and
//! writes the records of [--since, --until) oldest first — as JSON lines equal to the admin API's
//! records, and as CSV that Python's csv module reads back to the same fields (formulas
//! defused) — over several pages, with the bounds honoured; it is audited and never exports its
//! own record. Bad arguments fail with a clear message and a non-zero exit, and write nothing.

use std::path::Path;
use std::process::Output;

use handoff_core::Clock;
use serde_json::Value;

use crate::harness::TestServer;
use crate::retention::{all_records, at, bulk, rfc3339, DAY};

/// Runs `handoff audit export` on the server's database with `args`.
async fn export(server: &TestServer, args: &[&str]) -> Output {
    export_from(&server.database_url, args).await
}

async fn export_from(database_url: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["audit", "export", "--database-url", database_url])
        .args(args)
        .env_remove("HANDOFF_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The admin API's records in `since..until`, in the export's order: by time, then id.
fn in_range(records: &[Value], since: i64, until: i64) -> Vec<Value> {
    let mut selected: Vec<Value> = records.iter().filter(|r| (since..until).contains(&at(r))).cloned().collect();
    selected.sort_by_key(|r| (at(r), r["id"].as_i64().unwrap()));
    selected
}

/// A CSV file's rows as maps from column to cell, read by Python's csv module.
fn parse_csv(path: &Path) -> Vec<serde_json::Map<String, Value>> {
    let script = "import csv, json, sys\n\
                  with open(sys.argv[1], newline='') as f:\n    print(json.dumps(list(csv.DictReader(f))))";
    let output = std::process::Command::new("python3").args(["-c", script]).arg(path).output();
    let output = match output {
        Ok(output) => output,
        Err(err) => panic!("the CSV test needs python3: {err}"),
    };
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    rows.into_iter().map(|row| row.as_object().unwrap().clone()).collect()
}

const COLUMNS: [&str; 11] = [
    "id",
    "at",
    "kind",
    "outcome",
    "reason",
    "partner_id",
    "organization_id",
    "user_id",
    "client_addr",
    "request_id",
    "detail",
];

/// What the CSV cell of `column` holds for `record`: its text ("" when absent), a formula-like
/// value behind a `'`.
fn cell(record: &Value, column: &str) -> String {
    let text = match &record[column] {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text
    }
}

backend_tests! {
    #[tokio::test]
    async fn an_export_streams_a_range_oldest_first_as_the_admin_apis_records_in_jsonl_and_csv() {
        let server = TestServer::start().await;
        let t0 = server.clock.unix();
        let fx = server.fixture().await;
        server.mint(&fx, "/dashboard/before").await;
        server.clock.advance(DAY);
        let since = server.clock.unix();
        // The range: a request id that looks like a formula, a refusal, and pages' worth of
        // records in one second (the pages split records of equal time).
        let mut request = server.http.post(format!("{}/v1/sso", server.url)).header("x-request-id", "-cmd-1");
        for (name, value) in fx.headers(&fx.user.id) {
            request = request.header(name, value);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        let wrong = server.http.post(format!("{}/v1/sso", server.url)).header("x-partner-id", &fx.partner.id);
        assert!(wrong.send().await.unwrap().status().is_client_error());
        server.mint(&fx, "/dashboard/in-range").await;
        bulk(&server, 2600, since, |i| match i % 3 {
            0 => format!("=HYPERLINK(\"http://x.example/{i}\"), \"quoted\"\nsecond line"),
            1 => format!("@SUM(A{i})"),
            _ => format!("jti={i} redirect=/dashboard"),
        })
        .await;
        server.clock.advance(DAY);
        let until = server.clock.unix();
        server.mint(&fx, "/dashboard/after").await;
        let records = all_records(&server).await;
        let expected = in_range(&records, since, until);
        assert!(expected.len() > 2600, "{}", expected.len());
        assert!(records.iter().any(|r| at(r) == until) && records.iter().any(|r| at(r) < since));

        // JSON lines: every record of [since, until), each line the admin API's record.
        let (since_text, until_text) = (rfc3339(since), rfc3339(until));
        let jsonl = export(&server, &["--since", &since_text, "--until", &until_text, "--format", "jsonl"]).await;
        assert!(jsonl.status.success(), "{}", stderr(&jsonl));
        assert!(stderr(&jsonl).contains(&format!("exported {} audit records", expected.len())), "{}", stderr(&jsonl));
        let text = String::from_utf8(jsonl.stdout).unwrap();
        let lines: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines.len(), expected.len());
        assert_eq!(lines, expected);

        // CSV into a file: the same records, field by field, read by a real CSV parser.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.csv");
        let csv = export(&server, &["--since", &since_text, "--until", &until_text, "--format", "csv", "--output"]).await;
        assert!(!csv.status.success(), "--output needs a path");
        let csv = export(&server, &["--since", &since_text, "--until", &until_text, "--format", "csv", "-o", path.to_str().unwrap()]).await;
        assert!(csv.status.success(), "{}", stderr(&csv));
        assert!(csv.stdout.is_empty());
        #[cfg(unix)]
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions()) & 0o777, 0o600);
        let header = std::fs::read_to_string(&path).unwrap();
        assert!(header.starts_with(&format!("{}\r\n", COLUMNS.join(","))), "{}", &header[..200]);
        let rows = parse_csv(&path);
        assert_eq!(rows.len(), expected.len());
        for (row, record) in rows.iter().zip(&expected) {
            for column in COLUMNS {
                assert_eq!(row[column].as_str().unwrap(), cell(record, column), "{column} of {record}");
            }
        }
        assert!(rows.iter().any(|row| row["request_id"] == "'-cmd-1"), "the formula-like request id is defused");
        assert!(rows.iter().any(|row| row["detail"].as_str().unwrap().starts_with("'=HYPERLINK(\"http")));

        // Dates are midnight UTC.
        let midnight = |unix: i64| unix - unix.rem_euclid(DAY);
        let dated_expected = in_range(&all_records(&server).await, midnight(since), midnight(until));
        let (from, to) = (rfc3339(midnight(since))[..10].to_owned(), rfc3339(midnight(until))[..10].to_owned());
        let by_date = export(&server, &["--since", &from, "--until", &to]).await;
        assert!(by_date.status.success(), "{}", stderr(&by_date));
        let dated: Vec<Value> =
            String::from_utf8(by_date.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(dated, dated_expected);

        // Without bounds: the whole log as it was when the export started.
        let before_all = all_records(&server).await;
        let everything = export(&server, &[]).await;
        assert!(everything.status.success(), "{}", stderr(&everything));
        let lines: Vec<Value> =
            String::from_utf8(everything.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(lines, in_range(&before_all, i64::MIN, i64::MAX));

        // Each export is on record, with its range and channel, and none exports its own record.
        let exports = server.audit("kind=audit.export").await;
        assert_eq!(exports.len(), 4, "{exports:?}");
        assert_eq!(exports[3]["detail"], format!("format=jsonl since={since_text} until={until_text} via=cli"));
        assert_eq!(exports[2]["detail"], format!("format=csv since={since_text} until={until_text} via=cli"));
        assert_eq!(exports[0]["detail"], "format=jsonl since=- until=- via=cli");
        assert!(lines.iter().all(|line| line["id"] != exports[0]["id"]));
        assert!(at(&exports[0]) >= t0);
    }

    #[tokio::test]
    async fn bad_arguments_fail_clearly_and_export_nothing() {
        let server = TestServer::start().await;
        server.fixture().await;
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("archive.jsonl");
        std::fs::write(&existing, "keep me\n").unwrap();
        let existing = existing.to_str().unwrap().to_owned();
        let missing = format!("sqlite://{}", dir.path().join("nowhere.db").display());
        for (args, message) in [
            (vec!["--since", "yesterday"], "--since \"yesterday\" is not a time: use RFC 3339"),
            (vec!["--until", "2025-06-01T25:00:00Z"], "--until \"2025-06-01T25:00:00Z\" is not a time"),
            (vec!["--since", "2025-06-02", "--until", "2025-06-01"], "--since (2025-06-02T00:00:00Z) must be before --until"),
            (vec!["--since", "2025-06-01", "--until", "2025-06-01"], "must be before --until"),
            (vec!["--format", "xml"], "invalid value 'xml' for '--format <FORMAT>'"),
            (vec!["--output", &existing], "exists already: the export never overwrites a file"),
        ] {
            let output = export(&server, &args).await;
            assert!(!output.status.success(), "{args:?}");
            assert!(output.stdout.is_empty(), "{args:?}");
            assert!(stderr(&output).contains(message), "{args:?}: {}", stderr(&output));
        }
        let output = export_from(&missing, &[]).await;
        assert!(!output.status.success());
        assert!(stderr(&output).contains("there is no database at"), "{}", stderr(&output));
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me\n");
        assert!(!dir.path().join("nowhere.db").exists(), "a missing database is not created");
        assert_eq!(server.audit("kind=audit.export").await.len(), 0);
    }
}
