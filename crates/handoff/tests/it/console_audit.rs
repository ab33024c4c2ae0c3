//! The console's audit log (`/admin/audit`): records from real API calls under the admin API's
//! filters (reason among them), cursor paging in disjoint pages, the detail view with the request
//! id, and the streamed export of the filtered set as JSON lines and CSV (audited as
//! `console.audit_export`), a large one arriving complete, CSV cells that would run as spreadsheet
//! formulas neutralised; signed out, the way to sign in.

use handoff_core::model::{AuditEvent, Outcome};
use handoff_core::store::Write;
use handoff_core::wire::AuditRecordView;
use handoff_core::Clock as _;
use handoff_store::PoolSettings;
use serde_json::Value;

use crate::harness::{header, set_cookie_pair, TestServer, ADMIN_TOKEN};

/// Signs in through the console's form; the cookie's `name=value`.
async fn signed_in(server: &TestServer) -> String {
    let response = server
        .http
        .post(format!("{}/admin/sign-in", server.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &server.url)
        .body(format!("token={ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    set_cookie_pair(&response)
}

async fn get(server: &TestServer, cookie: &str, path: &str) -> reqwest::Response {
    server.http.get(format!("{}{path}", server.url)).header("cookie", cookie).send().await.unwrap()
}

async fn page_html(server: &TestServer, cookie: &str, path: &str) -> String {
    let response = get(server, cookie, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Every record the admin API gives for `query`, newest first, through all its pages.
async fn all_records(server: &TestServer, query: &str) -> Vec<AuditRecordView> {
    let mut records = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/audit?{query}&limit=1000&cursor={cursor}"),
            None => format!("/audit?{query}&limit=1000"),
        };
        let page = server.admin_get(&path).await;
        records.extend(page["items"].as_array().unwrap().iter().map(|r| serde_json::from_value(r.clone()).unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return records,
        }
    }
}

/// Records as JSON, to compare them (the view has no `PartialEq`).
fn json(records: &[AuditRecordView]) -> Value {
    serde_json::to_value(records).unwrap()
}

/// The ids of the records in an audit log page's table, in order.
fn listed_ids(html: &str) -> Vec<i64> {
    html.split("<a href=\"/admin/audit/").skip(1).filter_map(|rest| rest.split('"').next()?.parse().ok()).collect()
}

/// The "Older" link's target on an audit log page.
fn older_link(html: &str) -> Option<String> {
    let end = html.find("\" rel=\"next\">Older")?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    Some(html[start..end].replace("&amp;", "&"))
}

async fn export(server: &TestServer, cookie: &str, query: &str) -> reqwest::Response {
    let response = get(server, cookie, &format!("/admin/audit/export?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    response
}

/// Parses CSV (RFC 4180: quoted fields may hold commas, quotes and line breaks) into rows.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the CSV ends without a line break");
    rows
}

backend_tests! {
    #[tokio::test]
    async fn the_audit_log_lists_real_records_under_the_admin_apis_filters() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let other = server.create_user(&fx.org.id, "kari@jensen.com").await;
        for _ in 0..2 {
            server.mint(&fx, "/dashboard").await;
        }
        server.set_user_status(&other.id, "disabled").await;
        assert_eq!(server.mint_raw(&fx, &other.id, None).await.status(), 403);
        let refused = server.audit("kind=sso.mint&outcome=refused").await;
        assert_eq!(refused.len(), 1);
        let reason = refused[0]["reason"].as_str().unwrap().to_owned();
        // The admin API filters by reason too.
        assert_eq!(server.audit(&format!("kind=sso.mint&reason={reason}")).await, refused);
        assert!(server.audit("kind=sso.mint&reason=no-such-reason").await.is_empty());

        let cookie = signed_in(&server).await;
        let html = page_html(&server, &cookie, "/admin/audit").await;
        assert!(html.contains("<a href=\"/admin/audit\" aria-current=\"page\">Audit log</a>"), "{html}");
        let all = all_records(&server, "").await;
        assert_eq!(listed_ids(&html), all.iter().map(|r| r.id).collect::<Vec<_>>());

        let filtered = |query: String| {
            let server = &server;
            let cookie = &cookie;
            async move {
                let html = page_html(server, cookie, &format!("/admin/audit?{query}")).await;
                let expected: Vec<i64> = all_records(server, &query).await.iter().map(|r| r.id).collect();
                assert_eq!(listed_ids(&html), expected, "{query}");
                expected
            }
        };
        let mints = filtered(format!("kind=sso.mint&partner_id={}&organization_id={}", fx.partner.id, fx.org.id)).await;
        assert_eq!(mints.len(), 3);
        assert_eq!(filtered(format!("kind=sso.mint&outcome=accepted&user_id={}", fx.user.id)).await.len(), 2);
        let by_reason = filtered(format!("kind=sso.mint&outcome=refused&reason={reason}&user_id={}", other.id)).await;
        assert_eq!(by_reason, vec![refused[0]["id"].as_i64().unwrap()]);
        // A form sends its empty fields: they filter nothing.
        assert_eq!(filtered("kind=sso.mint&outcome=&reason=&since=&until=".into()).await, mints);

        // The time range, as a browser's datetime-local (UTC) and as RFC 3339.
        let at = &all.last().unwrap().at;
        let local = &at[..19];
        assert_eq!(filtered(format!("since={local}")).await.len(), all.len());
        assert!(filtered(format!("until={local}")).await.is_empty());
        assert_eq!(filtered(format!("since={}", at.replace(':', "%3A"))).await.len(), all.len());
        server.clock.advance(120);
        server.mint(&fx, "/later").await;
        let later = all_records(&server, "kind=sso.mint").await[0].clone();
        let hour_ago = time::OffsetDateTime::parse(&later.at, &time::format_description::well_known::Rfc3339).unwrap()
            - time::Duration::minutes(1);
        let cut = hour_ago.format(&time::format_description::well_known::Rfc3339).unwrap().replace(':', "%3A");
        assert_eq!(filtered(format!("kind=sso.mint&since={cut}")).await, vec![later.id]);
        assert_eq!(filtered(format!("kind=sso.mint&until={cut}")).await, mints);

        // A bad filter is refused on the page, with the form to correct it.
        let bad = get(&server, &cookie, "/admin/audit?outcome=maybe").await;
        assert_eq!(bad.status(), 400);
        let html = bad.text().await.unwrap();
        assert!(html.contains("outcome must be accepted or refused.") && html.contains("name=\"kind\""), "{html}");
    }

    #[tokio::test]
    async fn pages_are_disjoint_newest_first_and_keep_the_filters() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        for _ in 0..7 {
            server.mint(&fx, "/dashboard").await;
        }
        let cookie = signed_in(&server).await;
        let expected: Vec<i64> = all_records(&server, "kind=sso.mint").await.iter().map(|r| r.id).collect();
        assert_eq!(expected.len(), 7);
        let mut seen = Vec::new();
        let mut path = "/admin/audit?kind=sso.mint&limit=3".to_owned();
        let mut pages = 0;
        loop {
            let html = page_html(&server, &cookie, &path).await;
            let ids = listed_ids(&html);
            assert!(ids.len() <= 3 && !ids.is_empty(), "{ids:?}");
            seen.extend(ids);
            pages += 1;
            match older_link(&html) {
                Some(older) => {
                    assert!(older.contains("kind=sso.mint"), "{older}");
                    path = format!("{older}&limit=3");
                }
                None => break,
            }
        }
        assert_eq!((pages, seen), (3, expected));
    }

    #[tokio::test]
    async fn the_detail_view_shows_every_field_with_the_request_id() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        let response = server
            .mint_raw(&fx, &fx.user.id, Some(serde_json::json!({"redirect_path": "/x"})))
            .await;
        let request_id = header(&response, "x-request-id").unwrap().to_owned();
        let record = all_records(&server, "kind=sso.mint").await.remove(0);
        assert_eq!(record.request_id.as_deref(), Some(request_id.as_str()));
        let cookie = signed_in(&server).await;
        let html = page_html(&server, &cookie, &format!("/admin/audit/{}", record.id)).await;
        for value in [
            record.id.to_string(),
            record.at.clone(),
            record.kind.clone(),
            record.reason.clone(),
            record.outcome.clone().unwrap(),
            fx.partner.id.clone(),
            fx.org.id.clone(),
            fx.user.id.clone(),
            record.client_addr.clone().unwrap(),
            request_id,
        ] {
            assert!(html.contains(&value), "{value} missing: {html}");
        }
        for missing in ["/admin/audit/999999", "/admin/audit/nope"] {
            assert_eq!(get(&server, &cookie, missing).await.status(), 404, "{missing}");
        }
    }

    #[tokio::test]
    async fn exports_are_the_filtered_set_as_json_lines_and_quoted_csv_and_are_audited() {
        let server = TestServer::start().await;
        let fx = server.fixture().await;
        for _ in 0..3 {
            server.mint(&fx, "/dashboard").await;
        }
        let cookie = signed_in(&server).await;
        // An export's audit record names its filters: one with commas, quotes and a line break.
        let tricky = "a, \"b\"\nc";
        let empty = export(&server, &cookie, "format=jsonl&kind=a%2C%20%22b%22%0Ac").await;
        assert_eq!(empty.text().await.unwrap(), "");

        let query = format!("kind=sso.mint&partner_id={}", fx.partner.id);
        let response = export(&server, &cookie, &format!("format=jsonl&{query}")).await;
        assert_eq!(header(&response, "content-type"), Some("application/x-ndjson"));
        assert_eq!(header(&response, "content-disposition"), Some("attachment; filename=\"handoff-audit.jsonl\""));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        let text = response.text().await.unwrap();
        let lines: Vec<AuditRecordView> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        let expected = all_records(&server, &query).await;
        assert_eq!(json(&lines), json(&expected));
        assert_eq!(lines.len(), 3);

        // The export is audited with its filters, via the console.
        let audited = server.audit("kind=console.audit_export").await;
        assert_eq!(audited.len(), 2);
        let detail = audited[0]["detail"].as_str().unwrap();
        assert!(detail.starts_with("format=jsonl kind=sso.mint partner_id="), "{detail}");
        assert!(detail.ends_with(" via=console"), "{detail}");
        assert_eq!(audited[0]["outcome"], "accepted");

        let response = export(&server, &cookie, "format=csv").await;
        assert_eq!(header(&response, "content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(header(&response, "content-disposition"), Some("attachment; filename=\"handoff-audit.csv\""));
        let text = response.text().await.unwrap();
        let rows = parse_csv(&text);
        let header_row = "id,at,kind,outcome,reason,partner_id,organization_id,user_id,client_addr,request_id,detail";
        assert_eq!(rows[0].join(","), header_row);
        assert!(text.starts_with(&format!("{header_row}\r\n")));
        // Everything up to this export (its own record came after it started).
        let all = all_records(&server, "").await;
        assert_eq!(all[0].kind, "console.audit_export");
        let csv_of = |r: &AuditRecordView| {
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            vec![
                r.id.to_string(), r.at.clone(), r.kind.clone(), text(&r.outcome), r.reason.clone(), text(&r.partner_id),
                text(&r.organization_id), text(&r.user_id), text(&r.client_addr), text(&r.request_id), text(&r.detail),
            ]
        };
        assert_eq!(rows[1..].to_vec(), all[1..].iter().map(csv_of).collect::<Vec<_>>());
        let quoted = format!(",\"format=jsonl kind={} before=", tricky.replace('"', "\"\""));
        assert!(text.contains(&quoted), "{text}");
        assert!(rows.iter().any(|row| row[10].starts_with(&format!("format=jsonl kind={tricky} "))));

        // An unknown format is refused.
        assert_eq!(get(&server, &cookie, "/admin/audit/export?format=xml").await.status(), 400);
    }

    #[tokio::test]
    async fn a_large_export_streams_complete() {
        let server = TestServer::start().await;
        let cookie = signed_in(&server).await;
        // 5 000 refused admin requests (a body that is no JSON), sent 16 at a time.
        let mut sent = tokio::task::JoinSet::new();
        for worker in 0..16 {
            let (http, url) = (server.http.clone(), server.url.clone());
            sent.spawn(async move {
                for _ in (worker..5000).step_by(16) {
                    let response = http
                        .post(format!("{url}/admin/v1/organizations"))
                        .bearer_auth(ADMIN_TOKEN)
                        .header("content-type", "application/json")
                        .body("{")
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 400);
                }
            });
        }
        while let Some(done) = sent.join_next().await {
            done.unwrap();
        }
        let expected = all_records(&server, "kind=admin.request").await;
        assert_eq!(expected.len(), 5000);

        let mut response = export(&server, &cookie, "format=jsonl&kind=admin.request").await;
        assert!(header(&response, "content-length").is_none(), "the export is streamed");
        let (mut body, mut chunks) = (Vec::new(), 0);
        while let Some(chunk) = response.chunk().await.unwrap() {
            body.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(chunks > 1, "one chunk: not streamed");
        let lines: Vec<AuditRecordView> =
            String::from_utf8(body).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
        assert_eq!(json(&lines), json(&expected));

        let csv = export(&server, &cookie, "format=csv&kind=admin.request").await.text().await.unwrap();
        let rows = parse_csv(&csv);
        assert_eq!(rows.len(), 5001);
        let ids: Vec<i64> = rows[1..].iter().map(|row| row[0].parse().unwrap()).collect();
        assert_eq!(ids, expected.iter().map(|r| r.id).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn csv_cells_a_spreadsheet_would_run_as_formulas_are_neutralised() {
        let server = TestServer::start().await;
        let cookie = signed_in(&server).await;
        // A client's request id may start with `-`; the refusal's audit record keeps it.
        let response = server
            .http
            .post(format!("{}/admin/v1/organizations", server.url))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .header("x-request-id", "-2-3")
            .body("{")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        // Details that start like formulas, written straight to the store (no request writes
        // them today; the export must not trust that it stays so).
        let store = handoff_store::connect(&server.database_url, &PoolSettings::default()).await.unwrap();
        let formula = "=HYPERLINK(\"https://evil.example\",\"a, b\")";
        let details = [formula, "+1", "@SUM(A1)", "plain=1"];
        let writes = details
            .iter()
            .map(|detail| {
                Write::Audit(AuditEvent {
                    at: server.clock.now().unix_timestamp(),
                    kind: "test.formula".into(),
                    outcome: Some(Outcome::Accepted),
                    reason: "ok".into(),
                    partner_id: None,
                    organization_id: None,
                    user_id: None,
                    client_addr: None,
                    request_id: None,
                    detail: Some((*detail).to_owned()),
                })
            })
            .collect();
        store.commit(writes).await.unwrap();

        let text = export(&server, &cookie, "format=csv&kind=test.formula").await.text().await.unwrap();
        let rows = parse_csv(&text);
        let shown: Vec<&str> = rows[1..].iter().map(|row| row[10].as_str()).collect();
        assert_eq!(shown, ["plain=1", "'@SUM(A1)", "'+1", &format!("'{formula}")], "{text}");
        // The mark is inside the quotes of a quoted field.
        assert!(text.contains(",\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"a, b\"\")\"\r\n"), "{text}");
        let text = export(&server, &cookie, "format=csv&kind=admin.request").await.text().await.unwrap();
        assert_eq!(parse_csv(&text)[1][9], "'-2-3", "{text}");
        // JSON lines are data, not a spreadsheet: they keep the values as they are.
        let jsonl = export(&server, &cookie, "format=jsonl&kind=test.formula").await.text().await.unwrap();
        assert!(jsonl.contains("\"detail\":\"@SUM(A1)\""), "{jsonl}");
    }

    #[tokio::test]
    async fn signed_out_the_audit_pages_send_the_browser_to_sign_in() {
        let server = TestServer::start().await;
        for path in ["/admin/audit", "/admin/audit/1", "/admin/audit/export?format=csv"] {
            let response = server.http.get(format!("{}{path}", server.url)).send().await.unwrap();
            assert_eq!(response.status(), 303, "{path}");
            assert_eq!(header(&response, "location"), Some("/admin/sign-in"), "{path}");
        }
        assert!(server.audit("kind=console.audit_export").await.is_empty());
    }
}
