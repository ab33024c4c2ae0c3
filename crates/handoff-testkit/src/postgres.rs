//! A throwaway PostgreSQL server per test, from the system binaries (`/usr/lib/postgresql/*/bin`,
//! the newest installed), run as the `postgres` user on a free loopback port with a fresh cluster.
//! Without the binaries or the user, [`available`] prints SKIPPED; under `CI` it fails instead.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

/// Whether PostgreSQL tests can run; panics under `CI` when they cannot, so a missing tool
/// fails the run instead of skipping half of it.
pub fn available() -> bool {
    let ready = bin().is_some() && user().is_some();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install postgresql (its binaries and user)");
        eprintln!("SKIPPED: PostgreSQL binaries or the postgres user are missing (apt-get install postgresql)");
    }
    ready
}

/// The directory holding the newest installed PostgreSQL server binaries.
fn bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("postgres").exists() && bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

/// (uid, gid) of the `postgres` system user: `initdb` refuses to run as root.
pub(crate) fn user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let line = passwd.lines().find(|l| l.starts_with("postgres:"))?;
    let fields: Vec<&str> = line.split(':').collect();
    Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?))
}

/// A running throwaway server: stopped on drop, its files deleted with it.
pub struct Cluster {
    child: Option<Child>,
    /// Where to connect: `postgres://postgres@127.0.0.1:{port}/postgres`, trusted, no password.
    pub url: String,
    /// The loopback port the server listens on (it keeps it across [`Cluster::restart`]).
    pub port: u16,
    /// The `postgres` command line after the data directory: port, socket directory, settings.
    args: Vec<String>,
    dir: TempDir,
}

impl Cluster {
    /// Creates a cluster and starts its server; returns once it accepts connections. Call
    /// [`available`] first: this panics without the binaries or the user.
    pub fn start() -> Cluster {
        Self::start_with(None)
    }

    /// Like [`Cluster::start`], with `ssl=on` serving the certificate chain and key at
    /// `cert_pem` and `key_pem` (copied into the cluster), and TCP connections without TLS
    /// refused (`hostssl` lines only in `pg_hba.conf`).
    pub fn start_tls(cert_pem: &Path, key_pem: &Path) -> Cluster {
        Self::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&Path, &Path)>) -> Cluster {
        let bin = bin().expect("PostgreSQL binaries");
        let (uid, gid) = user().expect("the postgres user");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        let status = Command::new(bin.join("initdb"))
            .uid(uid)
            .gid(gid)
            .args(["--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb failed");
        let port = crate::unused_port();
        let mut args: Vec<String> = ["-p", &port.to_string(), "-h", "127.0.0.1", "-k"].map(str::to_owned).into();
        args.push(dir.path().display().to_string());
        for setting in ["fsync=off", "full_page_writes=off", "max_connections=200"] {
            args.extend(["-c".to_owned(), setting.to_owned()]);
        }
        if let Some((cert, key)) = tls {
            let (cert_copy, key_copy) = (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::copy(cert, &cert_copy).unwrap();
            std::fs::copy(key, &key_copy).unwrap();
            for file in [&cert_copy, &key_copy] {
                std::os::unix::fs::chown(file, Some(uid), Some(gid)).unwrap();
            }
            // PostgreSQL refuses a key others can read.
            std::fs::set_permissions(&key_copy, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            )
            .unwrap();
            for setting in [
                "ssl=on".to_owned(),
                format!("ssl_cert_file={}", cert_copy.display()),
                format!("ssl_key_file={}", key_copy.display()),
            ] {
                args.extend(["-c".to_owned(), setting]);
            }
        }
        let mut cluster =
            Cluster { child: None, url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), port, args, dir };
        cluster.spawn();
        cluster
    }

    /// Starts the server on the cluster's files and waits until it accepts connections.
    fn spawn(&mut self) {
        let (uid, gid) = user().expect("the postgres user");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("postgres.log"));
        let child = Command::new(bin().expect("PostgreSQL binaries").join("postgres"))
            .uid(uid)
            .gid(gid)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.unwrap()))
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready(self.port);
    }

    /// Stops the server as an operator's restart or a failover does (`pg_ctl stop -m fast`:
    /// open sessions are ended, nothing is lost), and waits until it is down.
    pub fn stop_fast(&mut self) {
        let (uid, gid) = user().expect("the postgres user");
        let status = Command::new(program("pg_ctl"))
            .uid(uid)
            .gid(gid)
            .args(["stop", "-m", "fast", "-w", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl stop failed");
        if let Some(mut child) = self.child.take() {
            child.wait().unwrap();
        }
    }

    /// Starts the stopped server again on the same port and files.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        self.spawn();
    }

    /// Polls until the server accepts connections (bounded: 10 s).
    fn wait_ready(&self, port: u16) {
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            // Test set-up, not library code: nothing to wait on but the port.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "postgres did not start: {}",
            std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
        );
    }

    /// The cluster's files (the data directory is `data/` below it), for tests that look for
    /// plaintext at rest.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A PostgreSQL program (`pg_dump`, `pg_restore`, `psql`, …) from the same installation as the
/// test servers, for tests that run the operator's tools. Call [`available`] first.
pub fn program(name: &str) -> PathBuf {
    bin().expect("PostgreSQL binaries").join(name)
}

/// Runs `sql` with `psql` on the database at `url`, stops at the first error and answers the
/// unaligned, tuples-only output. A server still starting up (it accepts connections before it
/// accepts sessions) is waited for, up to 10 s.
pub fn psql(url: &str, sql: &str) -> String {
    for _ in 0..400 {
        let output = Command::new(program("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && stderr.contains("the database system is starting up") {
            // Test set-up, not library code: nothing to wait on but the server.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(25));
            continue;
        }
        assert!(output.status.success(), "psql failed: {stderr}");
        return String::from_utf8(output.stdout).unwrap();
    }
    panic!("postgres at {url} did not finish starting up");
}

impl Cluster {
    /// [`psql`] on this cluster's `postgres` database, as the trusted `postgres` user.
    pub fn psql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }
}
