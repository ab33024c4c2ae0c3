//! One operator's flow through the web console in a real browser (`tests/browser/console-flow.mjs`,
//! Debian's Chromium through playwright-core) against a real server: sign-in through the form;
//! an organization, a partner, a link and a user created through the console's forms, their
//! secrets read from the pages that show them once; a link minted through the partner API and
//! redeemed in the browser, counted on the overview; the user disabled, the next mint refused
//! and that refusal in the audit log with its reason; the partner's secret rotated and shown
//! once; sign-out, after which the console refuses. axe-core finds no serious or critical
//! violation on the overview, the audit log and the partner page, whose 1280×800 screenshots go
//! to `target/console-screenshots/`.
//!
//! SQLite only: the browser judges the pages, which do not depend on the backend.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use crate::browser::{browser_available, browser_dir};
use crate::harness::{TestServer, ADMIN_TOKEN};

/// Where the browser writes its screenshots of the console.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_the_installation_from_the_console_in_a_browser() {
    if !browser_available() {
        return;
    }
    let server = TestServer::start().await;
    for name in ["overview", "audit", "partner"] {
        let _ = std::fs::remove_file(screenshots_dir().join(format!("{name}.png")));
    }
    let output = Command::new("node")
        .arg(browser_dir().join("console-flow.mjs"))
        .arg(&server.url)
        .arg(ADMIN_TOKEN)
        .arg(screenshots_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "browser run failed: {}", String::from_utf8_lossy(&output.stderr));
    let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
    let url = |path: &str| format!("{}{path}", server.url);

    // Signed in through the form: the overview.
    assert_eq!(seen["signedIn"], json!({"url": url("/admin"), "h1": "Overview"}), "{seen}");

    // Created through the forms, as the admin API sees them; the secrets shown once work below.
    let organization = &seen["organization"];
    let organization_id = organization["id"].as_str().unwrap();
    assert_eq!(organization["h1"], "Fjordheim legesenter", "{seen}");
    let listed = server.admin_get(&format!("/organizations/{organization_id}")).await;
    assert_eq!(listed["org_numbers"], json!(["987654321"]), "{listed}");
    let user_id = seen["user"]["id"].as_str().unwrap();
    assert_eq!(seen["user"]["h1"], "ola.nordmann@example.com", "{seen}");
    assert_eq!(server.admin_get(&format!("/users/{user_id}")).await["organization_id"], organization_id);
    let partner = &seen["partner"];
    let partner_id = partner["id"].as_str().unwrap();
    assert_eq!(partner["h1"], "Journal AS", "{seen}");
    assert_eq!(partner["linkedUrl"], url(&format!("/admin/partners/{partner_id}")), "{seen}");
    let linked = partner["linked"].as_array().unwrap();
    assert_eq!(linked.len(), 1, "{seen}");
    assert!(linked[0].as_str().unwrap().contains(organization_id), "{seen}");

    // The minted link signed the browser in, and the overview counts it.
    assert_eq!(seen["mint"]["status"], 200, "{seen}");
    assert_eq!(seen["redeemed"]["h1"], "Signed in as Ola Nordmann", "{seen}");
    let overview = &seen["overview"];
    assert_eq!(overview["h1"], "Overview", "{seen}");
    assert_eq!(overview["accepted"], "2", "a mint and a redemption: {seen}");
    assert_eq!(overview["redemption"], json!(["1", "0"]), "{seen}");
    assert_eq!(overview["mint"], json!(["1", "0"]), "{seen}");

    // Disabled in the console: the next mint is refused, and the audit log shows why.
    assert_eq!(seen["disabled"]["status"], "disabled (set by the operator)", "{seen}");
    let refused = &seen["refusedMint"];
    assert_eq!(
        (&refused["status"], &refused["body"]["error"]["detail"]),
        (&json!(403), &json!("The user is disabled."))
    );
    let refusals = server.audit("kind=sso.mint&outcome=refused").await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["reason"], "user-disabled", "{refusals:?}");
    assert!(seen["audit"]["url"].as_str().unwrap().contains("outcome=refused"), "{seen}");
    // The filtered log: only refusals, the mint among them with its reason and whose it was.
    let rows = seen["audit"]["rows"].as_array().unwrap();
    assert!(rows.iter().all(|row| row[3] == "refused"), "{seen}");
    let row = rows.iter().find(|row| row[2] == "sso.mint").unwrap_or_else(|| panic!("no refused mint: {seen}"));
    assert_eq!(row[0], refusals[0]["id"].to_string(), "{seen}");
    assert_eq!(
        row.as_array().unwrap()[3..],
        [json!("refused"), json!("user-disabled"), json!(partner_id), json!(organization_id), json!(user_id)],
        "{seen}"
    );

    // The rotated secret was shown once, and is not on the page opened again.
    assert_eq!(seen["rotated"]["shown"], true, "{seen}");
    let rotated = seen["rotated"]["secret"].as_str().unwrap();
    assert_ne!(rotated, partner["secret"].as_str().unwrap());
    assert_eq!(seen["reopened"]["h1"], "Journal AS", "{seen}");
    assert_eq!(seen["reopened"]["shown"], false, "{seen}");
    let page = server.http.get(url(&format!("/admin/partners/{partner_id}"))).send().await.unwrap();
    assert!(!page.text().await.unwrap().contains(rotated));

    // Signed out, the console sends the browser to sign in.
    for step in ["signedOut", "afterSignOut"] {
        assert_eq!(seen[step], json!({"url": url("/admin/sign-in"), "h1": "Sign in to the console"}), "{seen}");
    }

    // axe-core: no serious or critical violation; the screenshots were written.
    for name in ["overview", "audit", "partner"] {
        assert_eq!(seen["violations"][name], json!([]), "{name}: {seen:#}");
        assert!(screenshots_dir().join(format!("{name}.png")).exists(), "{name}");
    }
}
