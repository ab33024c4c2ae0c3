//! A throwaway PgBouncer (Debian's `/usr/sbin/pgbouncer`) in transaction pooling mode in front
//! of a test [`Cluster`](crate::postgres::Cluster), on a free loopback port, run as the
//! `postgres` user (PgBouncer refuses root). Without the binary, [`available`] prints SKIPPED;
//! under `CI` it fails instead.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::postgres::{self, Cluster};

const BINARY: &str = "/usr/sbin/pgbouncer";

/// Whether PgBouncer tests can run (PostgreSQL's too); panics under `CI` when they cannot.
pub fn available() -> bool {
    if !postgres::available() {
        return false;
    }
    let ready = Path::new(BINARY).exists();
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install pgbouncer");
        eprintln!("SKIPPED: PgBouncer is missing (apt-get install pgbouncer)");
    }
    ready
}

/// A running PgBouncer: stopped on drop, its files deleted with it.
pub struct Bouncer {
    child: Child,
    /// Where to connect: `postgres://postgres@127.0.0.1:{port}/postgres` through the pooler.
    pub url: String,
    dir: TempDir,
}

impl Bouncer {
    /// Starts PgBouncer with `pool_mode = transaction` and `server_pool_size` server connections
    /// to `cluster`'s `postgres` database (trusted, like the cluster).
    pub fn start(cluster: &Cluster, server_pool_size: u32) -> Bouncer {
        let (uid, gid) = postgres::user().expect("the postgres user");
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let port = crate::unused_port();
        let d = dir.path().display();
        let ini = format!(
            "[databases]\npostgres = host=127.0.0.1 port={pg} dbname=postgres\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\n\
             auth_file = {d}/userlist.txt\npool_mode = transaction\ndefault_pool_size = {server_pool_size}\n\
             max_client_conn = 500\nignore_startup_parameters = extra_float_digits\n\
             logfile = {d}/pgbouncer.log\npidfile = {d}/pgbouncer.pid\n",
            pg = cluster.port,
        );
        std::fs::write(dir.path().join("pgbouncer.ini"), ini).unwrap();
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n").unwrap();
        let child = Command::new(BINARY)
            .uid(uid)
            .gid(gid)
            .arg(dir.path().join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bouncer = Bouncer { child, url: format!("postgres://postgres@127.0.0.1:{port}/postgres"), dir };
        bouncer.wait_ready(port);
        bouncer
    }

    /// Polls until PgBouncer accepts connections (bounded: 10 s).
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
            "pgbouncer did not start: {}",
            std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
        );
    }

    /// PgBouncer's log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
