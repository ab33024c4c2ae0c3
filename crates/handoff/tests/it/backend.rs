//! The storage backend a test runs against. `backend_tests!` turns each test into two, one per
//! backend (`…::sqlite` and `…::postgres`), so the suite is written once and run on both.
//!
//! PostgreSQL tests start a throwaway server from the system binaries (`/usr/lib/postgresql/*/bin`)
//! as the `postgres` user, on a free loopback port, with a fresh cluster per test. Without the
//! binaries they print SKIPPED; under `CI` they fail instead.

use std::future::Future;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Generates a SQLite and a PostgreSQL variant of every test in the block.
macro_rules! backend_tests {
    ($( $(#[$attr:meta])* async fn $name:ident() $body:block )*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$attr])*
            async fn sqlite() {
                crate::backend::Backend::Sqlite.scope(async move $body).await
            }

            $(#[$attr])*
            async fn postgres() {
                if crate::backend::postgres_available() {
                    crate::backend::Backend::Postgres.scope(async move $body).await
                }
            }
        }
    )*};
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

impl Backend {
    /// Runs `test` with this backend as the current one.
    pub async fn scope<F: Future<Output = ()>>(self, test: F) {
        BACKEND.scope(self, test).await
    }

    /// The backend of the running test (SQLite outside `backend_tests!`).
    pub fn current() -> Backend {
        BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
    }

    /// A database for one server: `None` for SQLite (the data directory's file), or a running
    /// PostgreSQL server whose URL to use.
    pub fn database(self) -> Option<Postgres> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some(Postgres::start()),
        }
    }
}

/// The directory holding the PostgreSQL server binaries, if installed.
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// Whether PostgreSQL tests can run; panics under CI when they cannot.
pub fn postgres_available() -> bool {
    let ready = postgres_bin().is_some() && postgres_user().is_some();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install postgresql (its binaries and user)");
        eprintln!("SKIPPED: PostgreSQL binaries or the postgres user are missing (apt-get install postgresql)");
    }
    ready
}

/// (uid, gid) of the `postgres` system user: `initdb` refuses to run as root.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

fn as_postgres(command: &mut Command) -> &mut Command {
    let (uid, gid) = postgres_user().expect("no postgres user");
    command.uid(uid).gid(gid)
}

/// A throwaway PostgreSQL server, stopped and deleted on drop.
pub struct Postgres {
    child: Child,
    pub url: String,
    dir: TempDir,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin().expect("PostgreSQL binaries");
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = postgres_user().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        let status = as_postgres(&mut Command::new(bin.join("initdb")))
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let child = as_postgres(&mut Command::new(bin.join("postgres")))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(dir.path())
            .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("postgres.log")).unwrap()))
            .spawn()
            .unwrap();
        let server = Postgres { child, url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), dir };
        server.wait_ready(port);
        server
    }

    /// Polls until the server accepts connections (bounded).
    fn wait_ready(&self, port: u16) {
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "postgres did not start: {}",
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    /// The cluster's files (for tests that look for plaintext at rest).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
