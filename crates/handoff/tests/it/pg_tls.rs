//! TLS to PostgreSQL through the `database_url` query: a cluster with `ssl=on` that refuses
//! plain TCP, serving a certificate the test signs with its own CA (openssl CLI). `verify-full`
//! and `verify-ca` connect; a wrong CA or host name stops start-up at once with a clear error,
//! and so does `require` against a server without TLS.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use handoff_testkit::postgres;

use crate::harness::{TestServer, ADMIN_TOKEN};

/// A CA (`ca.pem`) and a server certificate it signed for `localhost` only (`server.pem`,
/// `server.key`), plus a second CA that signed nothing (`other-ca.pem`), in `dir`.
fn certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl CLI");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    };
    std::fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\n[dn]\n[ca]\nbasicConstraints = critical, CA:TRUE\n\
         keyUsage = critical, keyCertSign, cRLSign\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("server.cnf"),
        "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost\n",
    )
    .unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subject) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=handoff test {ca}"));
        let mut args = vec!["req", "-x509", "-config", "ca.cnf", "-extensions", "ca", "-days", "2"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem, "-subj", &subject]);
        openssl(&args);
    }
    let mut args = vec!["req", "-new", "-config", "ca.cnf"];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"]);
    openssl(&args);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.cnf",
        "-out",
        "server.pem",
    ]);
}

/// A cluster serving TLS with the test's certificate, and the directory holding the CAs.
fn tls_cluster() -> (postgres::Cluster, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let cluster = postgres::Cluster::start_tls(&dir.path().join("server.pem"), &dir.path().join("server.key"));
    (cluster, dir)
}

/// The cluster's URL at `host` with `query`.
fn url(cluster: &postgres::Cluster, host: &str, query: &str) -> String {
    format!("postgres://postgres@{host}:{}/postgres?{query}", cluster.port)
}

fn ca(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// How many of the server's client sessions other than the caller's run over TLS, and how many
/// there are.
fn tls_sessions(cluster: &postgres::Cluster) -> (i64, i64) {
    let line = cluster.psql(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()",
    );
    let (tls, all) = line.trim().split_once('|').unwrap();
    (tls.parse().unwrap(), all.parse().unwrap())
}

/// `handoff serve` on `database_url` with a start-up retry window far longer than the test
/// waits: it must exit on its own (a certificate error is not retried). Its stderr.
async fn refused_start_up(database_url: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", ADMIN_TOKEN, "--database-connect-timeout", "3600"])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--database-url", database_url])
        .env_remove("HANDOFF_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("start-up kept retrying a refused certificate")
        .unwrap();
    assert!(!output.status.success(), "handoff started on {database_url}");
    String::from_utf8(output.stderr).unwrap()
}

#[tokio::test]
async fn verify_full_connects_over_tls_and_serves_an_sso() {
    if !postgres::available() {
        return;
    }
    let (cluster, dir) = tls_cluster();
    let query = format!("sslmode=verify-full&sslrootcert={}", ca(&dir, "ca.pem").display());
    let database_url = url(&cluster, "localhost", &query);
    let server = TestServer::with(|layer| layer.database_url = Some(database_url)).await;
    let fx = server.fixture().await;
    let link = server.mint(&fx, "/dashboard").await;
    let cookie = server.sign_in(&link).await;
    assert_eq!(server.who_am_i(&cookie).await["user_id"], fx.user.id.as_str());
    let (tls, all) = tls_sessions(&cluster);
    assert!(all > 0, "handoff holds no connection");
    assert_eq!(tls, all, "every connection of handoff's is TLS");
}

/// verify-ca checks the chain. (sqlx 0.8.6 checks the host name under verify-ca too,
/// launchbadge/sqlx#3793: stricter than libpq, never weaker; docs/postgresql.md says so.)
#[tokio::test]
async fn verify_ca_connects() {
    if !postgres::available() {
        return;
    }
    let (cluster, dir) = tls_cluster();
    let query = format!("sslmode=verify-ca&sslrootcert={}", ca(&dir, "ca.pem").display());
    let database_url = url(&cluster, "localhost", &query);
    let server = TestServer::with(|layer| layer.database_url = Some(database_url)).await;
    let ready = server.http.get(format!("{}/readyz", server.url)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let fx = server.fixture().await;
    let link = server.mint(&fx, "/dashboard").await;
    server.sign_in(&link).await;
    let (tls, all) = tls_sessions(&cluster);
    assert_eq!(tls, all, "every connection of handoff's is TLS");
}

#[tokio::test]
async fn a_wrong_ca_stops_start_up_with_a_clear_error() {
    if !postgres::available() {
        return;
    }
    let (cluster, dir) = tls_cluster();
    let query = format!("sslmode=verify-full&sslrootcert={}", ca(&dir, "other-ca.pem").display());
    let stderr = refused_start_up(&url(&cluster, "localhost", &query)).await;
    assert!(stderr.contains("cannot connect to the database over TLS"), "{stderr}");
    assert!(stderr.contains("sslrootcert="), "{stderr}");
    assert!(stderr.contains("UnknownIssuer"), "the error says why: {stderr}");
}

#[tokio::test]
async fn a_wrong_host_name_is_refused_under_verify_full() {
    if !postgres::available() {
        return;
    }
    let (cluster, dir) = tls_cluster();
    let query = format!("sslmode=verify-full&sslrootcert={}", ca(&dir, "ca.pem").display());
    let stderr = refused_start_up(&url(&cluster, "127.0.0.1", &query)).await;
    assert!(stderr.contains("cannot connect to the database over TLS"), "{stderr}");
    assert!(stderr.contains("127.0.0.1"), "the error names the host it expected: {stderr}");
}

#[tokio::test]
async fn require_refuses_a_server_without_tls() {
    if !postgres::available() {
        return;
    }
    let cluster = postgres::Cluster::start();
    let stderr = refused_start_up(&format!("{}?sslmode=require", cluster.url)).await;
    assert!(stderr.contains("cannot connect to the database over TLS"), "{stderr}");
}
