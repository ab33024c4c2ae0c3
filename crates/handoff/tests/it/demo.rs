//! The README's first command: `handoff serve --demo` prints a curl line that works, and its
//! `redirect_url` signs a browser in to the placeholder page naming the demo user.

use std::process::Command;

use serde_json::Value;

use handoff_client::Client;

use crate::harness::{http_client, Spawned, ADMIN_TOKEN};

#[tokio::test]
async fn the_printed_curl_line_mints_a_working_link() {
    let dir = tempfile::tempdir().unwrap();
    // Twice: the demo is idempotent and issues fresh secrets at every start.
    for round in 0..2 {
        let server = Spawned::serve(dir.path(), &["--demo"]);
        let text = server.stdout.join("\n");
        let start = text.find("curl ").expect("no curl line printed");
        let end = text[start..].find("}'").expect("curl line not terminated") + start + 2;
        let output = Command::new("bash").arg("-c").arg(&text[start..end]).output().unwrap();
        assert!(output.status.success(), "round {round}: {}", String::from_utf8_lossy(&output.stderr));
        let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(answer["success"], true, "{answer}");
        let redirect_url = answer["data"]["redirect_url"].as_str().unwrap();

        let http = http_client();
        let landing = http.get(redirect_url).send().await.unwrap();
        assert_eq!(landing.status(), 303);
        let location = landing.headers()["location"].to_str().unwrap().to_owned();
        let cookie = landing.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let page = http.get(format!("{}{location}", server.url)).header("cookie", cookie).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("Signed in as Turid Jensen"), "{html}");

        let admin = Client::new(&server.url).with_admin_token(ADMIN_TOKEN);
        for resource in ["/organizations", "/partners"] {
            let page: Value = admin.admin::<Value, Value>(reqwest::Method::GET, resource, None).await.unwrap();
            assert_eq!(page["items"].as_array().unwrap().len(), 1, "round {round}: one demo {resource}");
        }
    }
}
