//! The binary's configuration rules and lifecycle: unknown keys are errors, layers override in
//! order, SIGTERM drains and exits cleanly, `migrate` applies the schema.

use std::process::{Command, Stdio};

use crate::harness::{Spawned, ADMIN_TOKEN};

fn handoff(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handoff"));
    command.args(args).env_remove("HANDOFF_CONFIG").stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

#[test]
fn unknown_configuration_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("handoff.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\nsso_token_tll = 60\n").unwrap();
    let output = handoff(&["serve", "--config", config.to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sso_token_tll"), "{stderr}");

    let output = handoff(&["serve", "--listen", "127.0.0.1:0"]).env("HANDOFF_SSO_TOKEN_TLL", "60").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("HANDOFF_SSO_TOKEN_TLL"));

    let output = handoff(&["serve", "--sso-token-ttl", "301"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("sso_token_ttl"));

    let output = handoff(&["serve", "--public-url", "http://portal.example.com"]).output().unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("use https"));
}

#[test]
fn flags_override_environment_which_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("handoff.toml");
    std::fs::write(&config, "sso_token_ttl = 100\ndefault_redirect_path = \"/from-file\"\n").unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut child =
        handoff(&["serve", "--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0", "--data-dir", &data])
            .args(["--admin-token", ADMIN_TOKEN, "--sso-token-ttl", "42", "--demo"])
            .env("HANDOFF_SSO_TOKEN_TTL", "7")
            .env("HANDOFF_DEFAULT_REDIRECT_PATH", "/from-env")
            .spawn()
            .unwrap();
    let stdout = child.stdout.take().unwrap();
    let banner: Vec<String> = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .take_while(|line| !line.starts_with("handoff listening on"))
        .collect();
    child.kill().unwrap();
    child.wait().unwrap();
    // The flag (42) beat the environment (7), which beat the file (100).
    assert!(banner.join("\n").contains("within 42 seconds"), "{banner:?}");
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Spawned::serve(dir.path(), &[]);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(server.stderr().contains("shutting down"));
}

#[test]
fn migrate_creates_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let output = handoff(&["migrate", "--data-dir", data]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("up to date"));
    assert!(dir.path().join("handoff.db").exists());
}
