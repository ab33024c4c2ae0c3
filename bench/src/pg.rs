//! `--pg`: a throwaway PostgreSQL on this machine for handoff to run on, from the system binaries
//! that the test suites use (`handoff-testkit` finds them), in a fresh cluster run as the
//! `postgres` user on a free loopback port. Unlike the test clusters (`fsync=off`, which would
//! flatter every write path), it keeps PostgreSQL's default settings: a commit is durable, as on
//! a real deployment. Its WAL is warmed first, as a running installation's is ([`warm_wal`]).
//! It shares the machine's cores with handoff and the load generators.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use handoff_testkit::postgres;

use crate::Proc;

/// A running server, stopped (fast shutdown) when dropped.
pub struct Postgres {
    proc: Proc,
    data: PathBuf,
    user: (u32, u32),
    /// `postgres://postgres@127.0.0.1:{port}/postgres`, trusted, no password.
    pub url: String,
    /// `SHOW server_version`.
    pub version: String,
}

impl Postgres {
    /// Creates a cluster in `dir` (which must not exist) and starts its server.
    pub fn start(dir: &Path) -> Result<Postgres, String> {
        if !postgres::available() {
            return Err(
                "--pg needs PostgreSQL's server binaries and the postgres user: apt-get install postgresql".into()
            );
        }
        let user = postgres_user().ok_or("no postgres user in /etc/passwd")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(dir, Some(user.0), Some(user.1)).map_err(|e| e.to_string())?;
        let data = dir.join("data");
        let status = Command::new(postgres::program("initdb"))
            .uid(user.0)
            .gid(user.1)
            // --no-sync: initdb's own files only; the server's commits are still fsynced.
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("initdb failed".into());
        }
        let port = handoff_testkit::unused_port();
        let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
        let child = Command::new(postgres::program("postgres"))
            .uid(user.0)
            .gid(user.1)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-h", "127.0.0.1", "-k"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| e.to_string())?;
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let proc = Proc { child, addr: url.clone() };
        // Bounded: 10 s for the port; `psql` then waits out the start-up itself.
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            // Set-up of a benchmark, not library code: nothing to wait on but the port.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(25));
        }
        let version = postgres::psql(&url, "SHOW server_version").trim().to_owned();
        warm_wal(&url);
        Ok(Postgres { proc, data, user, url, version })
    }

    /// CPU seconds the server has used so far: the postmaster with its ended children, and its
    /// live processes (handoff's pooled connections are long-lived backends).
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.proc.child.id().to_string();
        let own = crate::stat_fields(&pid).map_or(0.0, |f| f.iter().skip(11).take(4).sum::<f64>() / 100.0);
        let children: f64 = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
            // The parent pid is field 4, index 1 after the command name.
            .filter(|child| crate::stat_fields(child).is_some_and(|f| f.get(1) == Some(&(self.proc.child.id() as f64))))
            .map(|child| crate::cpu_seconds(&child))
            .sum();
        own + children
    }
}

/// Gives the new cluster the WAL segments a running installation has. PostgreSQL recycles a
/// segment after a checkpoint instead of creating one; a new cluster has none to recycle, so the
/// backend whose commit needs the next segment first writes 16 MiB of zeros and flushes them
/// (`XLogFileInit` under `XLogFlush`): in a profile of a mint turn on a new cluster, 447 samples
/// of PostgreSQL's backends, and the batches over 25 ms of the turn. So the cluster keeps 1 GiB
/// of segments (`min_wal_size`, as large as the default `max_wal_size`), and about that much WAL
/// is written and checkpointed once, before anything is measured. Every other setting stays
/// PostgreSQL's default.
fn warm_wal(url: &str) {
    postgres::psql(url, "ALTER SYSTEM SET min_wal_size = '1GB'");
    postgres::psql(url, "SELECT pg_reload_conf()");
    postgres::psql(
        url,
        "CREATE TABLE bench_warm AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 3500000) g",
    );
    postgres::psql(url, "DROP TABLE bench_warm");
    postgres::psql(url, "CHECKPOINT");
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new(postgres::program("pg_ctl"))
            .uid(self.user.0)
            .gid(self.user.1)
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(&self.data)
            .stdout(Stdio::null())
            .status();
    }
}

/// (uid, gid) of the `postgres` system user: `initdb` refuses to run as root.
fn postgres_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let fields: Vec<&str> = passwd.lines().find(|l| l.starts_with("postgres:"))?.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}
