//! Running handoff on a host: secrets from files (systemd `LoadCredential=`, container secrets),
//! `handoff healthcheck` for a container's HEALTHCHECK, and the documented systemd unit checked
//! by `systemd-analyze` (`docs/examples/handoff.service`, `docs/examples/handoff.toml`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::harness::{Spawned, ADMIN_TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_handoff");

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples").join(name)
}

/// `handoff serve` on a free port with the master key and admin token from files.
fn serve_with_files(data: &Path, key_file: &Path, token_file: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .env_remove("HANDOFF_MASTER_KEY")
        .env_remove("HANDOFF_ADMIN_TOKEN")
        .env("HANDOFF_MASTER_KEY_FILE", key_file)
        .env("HANDOFF_ADMIN_TOKEN_FILE", token_file);
    command
}

/// Runs `command` to its end, failing the test if it takes longer than `limit`.
fn finish_within(mut command: Command, limit: Duration) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{command:?} still running after {limit:?}");
        }
        // A child process has no readiness to wait on but its exit.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn the_master_key_and_admin_token_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let key_file = credentials.join("master_key");
    let token_file = credentials.join("admin_token");
    // With the newline `echo` and editors leave.
    std::fs::write(&key_file, format!("{}\n", base64::engine::general_purpose::STANDARD.encode([7u8; 32]))).unwrap();
    std::fs::write(&token_file, format!("{ADMIN_TOKEN}\n")).unwrap();

    let server = Spawned::start(serve_with_files(&data, &key_file, &token_file), &data);
    // Nothing was generated next to the data: the files were used.
    assert!(!data.join("handoff.master.key").exists());
    assert!(!data.join("handoff.admin-token").exists());
    // `handoff admin` finds the token through the same variable.
    let admin = |url: &str, args: &[&str]| {
        let output = Command::new(BIN)
            .args(["admin", "--url", url])
            .args(args)
            .env_remove("HANDOFF_ADMIN_TOKEN")
            .env("HANDOFF_ADMIN_TOKEN_FILE", &token_file)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    };
    let created =
        admin(&server.url, &["organizations", "create", "--name", "Fjordklinikken", "--org-number", "123456789"]);
    drop(server);

    // Restarted with the same key, the sealed signing keys open again and the data is there.
    let server = Spawned::start(serve_with_files(&data, &key_file, &token_file), &data);
    let listed = admin(&server.url, &["organizations", "list"]);
    assert!(listed.to_string().contains(created["id"].as_str().unwrap()), "{listed}");
    drop(server);

    // Another key cannot unseal them: start-up refuses rather than serving with new keys.
    let other_key = credentials.join("other_key");
    std::fs::write(&other_key, base64::engine::general_purpose::STANDARD.encode([8u8; 32])).unwrap();
    let refused = finish_within(serve_with_files(&data, &other_key, &token_file), Duration::from_secs(30));
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("the master key differs"));

    // Both spellings of one secret is a configuration error naming the key.
    let mut both = serve_with_files(&data, &key_file, &token_file);
    both.env("HANDOFF_ADMIN_TOKEN", ADMIN_TOKEN);
    let output = finish_within(both, Duration::from_secs(30));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("admin_token") && stderr.contains("admin_token_file"), "{stderr}");
    assert!(!stderr.contains(ADMIN_TOKEN), "the token must not be echoed: {stderr}");
}

#[test]
fn healthcheck_exits_zero_for_a_serving_node_and_one_without() {
    let dir = tempfile::tempdir().unwrap();
    let port = handoff_testkit::unused_port();
    // As in a container: listening on every address, asked on loopback.
    let listen = format!("0.0.0.0:{port}");
    let public_url = format!("http://127.0.0.1:{port}");
    let _server = Spawned::serve_on(dir.path(), &listen, &["--public-url", &public_url]);
    let check = |listen: &str| {
        let mut command = Command::new(BIN);
        command.args(["healthcheck", "--listen", listen, "--public-url", &public_url, "--data-dir"]).arg(dir.path());
        finish_within(command, Duration::from_secs(30))
    };
    let healthy = check(&listen);
    assert!(healthy.status.success(), "{}", String::from_utf8_lossy(&healthy.stderr));
    assert!(String::from_utf8_lossy(&healthy.stdout).contains(&format!("http://127.0.0.1:{port}/healthz")));

    let nobody = format!("127.0.0.1:{}", handoff_testkit::unused_port());
    let unhealthy = check(&nobody);
    assert_eq!(unhealthy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unhealthy.stderr).contains("unhealthy"));
}

fn systemd_analyze_available() -> bool {
    let ready = Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success());
    if !ready {
        assert!(std::env::var_os("CI").is_none(), "CI must install systemd (systemd-analyze)");
        eprintln!("SKIPPED: the systemd unit test needs systemd-analyze (apt-get install systemd)");
    }
    ready
}

#[test]
fn the_documented_systemd_unit_is_valid_hardened_and_starts_handoff() {
    if !systemd_analyze_available() {
        return;
    }
    let unit = std::fs::read_to_string(example("handoff.service")).unwrap();
    for directive in [
        "DynamicUser=yes",
        "StateDirectory=handoff",
        "LimitNOFILE=",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "LoadCredential=master_key:",
        "LoadCredential=admin_token:",
    ] {
        assert!(unit.contains(directive), "the unit lacks {directive:?}");
    }
    // The unit as documented, but starting the binary under test (verify checks it exists).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("handoff.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/handoff", BIN)).unwrap();
    let verify = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let warnings = String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && warnings.trim().is_empty(), "systemd-analyze verify: {warnings}");
    // Exposure 0 (locked down) to 10 (unprotected): the threshold is 1.5, scaled by ten.
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=15"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&security.stdout);
    assert!(security.status.success(), "exposure above 1.5:\n{report}");
    assert!(report.contains("Overall exposure level for handoff.service"), "{report}");

    // The unit's variables and the example configuration are what handoff reads: `migrate`
    // (with the unit's environment, its credentials directory and data directory moved into a
    // temporary one) accepts them.
    let credentials = dir.path().join("credentials");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(credentials.join("master_key"), base64::engine::general_purpose::STANDARD.encode([9u8; 32]))
        .unwrap();
    std::fs::write(credentials.join("admin_token"), ADMIN_TOKEN).unwrap();
    let config = std::fs::read_to_string(example("handoff.toml")).unwrap();
    let config_path = dir.path().join("handoff.toml");
    std::fs::write(&config_path, config.replace("/var/lib/handoff", state.to_str().unwrap())).unwrap();
    let mut migrate = Command::new(BIN);
    migrate.arg("migrate").arg("--config").arg(&config_path).env_remove("HANDOFF_CONFIG");
    for line in unit.lines() {
        let Some((name, value)) = line.strip_prefix("Environment=").and_then(|rest| rest.split_once('=')) else {
            continue;
        };
        let value =
            value.replace("%d", credentials.to_str().unwrap()).replace("/var/lib/handoff", state.to_str().unwrap());
        migrate.env(name, value);
    }
    let output = finish_within(migrate, Duration::from_secs(60));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(state.join("handoff.db").exists());
}
