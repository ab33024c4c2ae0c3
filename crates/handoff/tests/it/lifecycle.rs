//! The binary's configuration rules and lifecycle: unknown keys are errors, layers override in
//! order, SIGTERM drains and exits cleanly, `migrate` applies the schema.

use std::process::{Command, Stdio};

use reqwest::Method;
use serde_json::Value;

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

#[tokio::test]
async fn keys_rotated_on_the_host_reach_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Spawned::serve(dir.path(), &[]);
    let admin = handoff_client::Client::new(&server.url).with_admin_token(ADMIN_TOKEN);
    let before: Value = admin.admin::<Value, Value>(Method::GET, "/keys", None).await.unwrap();

    // On the same data directory, while the server runs, without the admin token.
    let output = handoff(&["keys", "rotate", "--data-dir", data]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(rotated["sso_kid"], before["sso"]["current"]);

    let after: Value = admin.admin::<Value, Value>(Method::GET, "/keys", None).await.unwrap();
    assert_eq!(after["sso"]["current"], rotated["sso_kid"]);
    assert_eq!(after["identity"]["current"], rotated["identity_kid"]);
    assert_eq!(after["prefill"]["current"], rotated["prefill_kid"]);
    assert_ne!(after["prefill"]["current"], before["prefill"]["current"]);
    let kids = after["sso"]["kids"].as_array().unwrap();
    assert!(kids.contains(&before["sso"]["current"]), "the old key keeps verifying: {after}");
    let listed = handoff(&["keys", "list", "--data-dir", data]).output().unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&listed.stdout).unwrap(), after);

    let audit: Value = admin.admin::<Value, Value>(Method::GET, "/audit?kind=admin.keys.rotate", None).await.unwrap();
    let detail = audit["items"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(rotated["sso_kid"].as_str().unwrap()) && detail.ends_with("via=cli"), "{detail}");

    // A directory without the master key is the wrong one: nothing is created there.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = handoff(&["keys", "rotate", "--data-dir", elsewhere.path().to_str().unwrap()]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no master_key configured"));
    assert!(!elsewhere.path().join("handoff.db").exists());
}
