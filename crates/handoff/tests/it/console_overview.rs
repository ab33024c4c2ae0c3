//! The console's overview (`GET /admin`): after mints, redemptions and inbound events through the
//! real APIs, its tables show the counts per surface in their hour and day, the top refusal
//! reason and the health rows, under the console's strict CSP.

use handoff_core::Clock;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::console::{assert_console_headers, assert_no_inline_code, signed_in};
use crate::harness::TestServer;
use crate::stats::{portal, send_event};

const HOUR: i64 = 3600;

/// The overview at `query` ("" or "?span=days"), checked for the console's headers.
async fn overview(server: &TestServer, cookie: &str, query: &str) -> String {
    let response =
        server.http.get(format!("{}/admin{query}", server.url)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_console_headers(&response);
    let html = response.text().await.unwrap();
    assert_no_inline_code(&html);
    html
}

/// The part of `html` from the element with `id` to the first `end` after it.
fn element<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find(end).unwrap_or_else(|| panic!("#{id} does not end: {rest}"))]
}

/// The text of each `<td>` in `html` (tags inside removed).
fn cells(html: &str) -> Vec<String> {
    html.split("<td>").skip(1).map(|cell| text(&cell[..cell.find("</td>").unwrap()])).collect()
}

/// `html` without its tags.
fn text(html: &str) -> String {
    let mut out = String::new();
    for (i, part) in html.split('<').enumerate() {
        out.push_str(if i == 0 { part } else { part.split_once('>').map_or("", |(_, t)| t) });
    }
    out
}

/// The chart table `id`'s rows, oldest first, as (accepted, refused), and its total row.
fn table(html: &str, id: &str) -> (Vec<(u64, u64)>, (u64, u64)) {
    let table = element(html, &format!("{id}-table"), "</table>");
    let pair = |row: &str| {
        let cells: Vec<u64> = cells(row).iter().map(|c| c.parse().unwrap()).collect();
        assert_eq!(cells.len(), 2, "{row}");
        (cells[0], cells[1])
    };
    let body = &table[table.find("<tbody>").unwrap()..table.find("</tbody>").unwrap()];
    let rows = body.split("<tr>").skip(1).map(pair).collect();
    (rows, pair(&table[table.find("<tfoot>").unwrap()..]))
}

/// The number in the tile `id`.
fn tile(html: &str, id: &str) -> u64 {
    text(&format!("<{}", element(html, id, "</dd>"))).parse().unwrap()
}

fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).unwrap().format(&Rfc3339).unwrap()
}

backend_tests! {
    #[tokio::test]
    async fn the_overview_shows_what_the_apis_did() {
        let server = TestServer::start().await;
        let at = server.clock.unix();
        let fx = server.fixture().await;
        let (endpoint, secret, profile) = portal(&server).await;
        // Partner mint: two accepted; two refused for a wrong secret, one for a disabled user.
        let first = server.mint(&fx, "/dashboard/1").await;
        server.mint(&fx, "/dashboard/2").await;
        for _ in 0..2 {
            let mut wrong = server.http.post(format!("{}/v1/sso", server.url));
            for (name, value) in fx.headers(&fx.user.id) {
                wrong = wrong.header(name, if name == "x-partner-secret" { "hps_wrong".to_owned() } else { value });
            }
            assert_eq!(wrong.send().await.unwrap().status(), 401);
        }
        let disabled = server.create_user(&fx.org.id, "disabled@jensen.com").await;
        server.set_user_status(&disabled.id, "disabled").await;
        assert_eq!(server.mint_raw(&fx, &disabled.id, None).await.status(), 403);
        // Redemption: one accepted, its replay refused. Inbound: one accepted, one refused.
        server.sign_in(&first).await;
        assert_eq!(server.open(&first).await.status(), 409);
        assert_eq!(send_event(&server, &endpoint, &secret, profile, "ada@example.com").await, 200);
        assert_ne!(send_event(&server, &endpoint, &secret, profile, "nobody@example.com").await, 200);

        let cookie = signed_in(&server).await;
        let html = overview(&server, &cookie, "").await;
        // Every chart is an image with a name, and its numbers are a table: the current hour last.
        assert!(html.contains("<svg class=\"chart\" viewBox=\"0 0 600 180\" role=\"img\" aria-labelledby=\"partner-mint-title\">"), "{html}");
        assert!(html.contains("<title id=\"partner-mint-title\">Partner mint, last 24 hours: 2 accepted, 3 refused</title>"), "{html}");
        for (id, counts) in [("partner-mint", (2, 3)), ("redemption", (1, 1)), ("inbound-webhook", (1, 1)), ("launch", (0, 0))] {
            let (rows, total) = table(&html, id);
            assert_eq!(rows.len(), 24, "{id}");
            assert_eq!((rows[23], total), (counts, counts), "{id}");
            assert!(rows[..23].iter().all(|r| *r == (0, 0)), "{id}: {rows:?}");
        }
        assert_eq!((tile(&html, "total-accepted"), tile(&html, "total-refused")), (4, 5));
        assert_eq!(tile(&html, "active-sessions"), 1);
        let hour = at - at.rem_euclid(HOUR);
        assert!(html.contains(&format!("<time datetime=\"{}\">", rfc3339(hour))), "{html}");

        // The top refusal reason, where it happened and how often.
        let reasons = element(&html, "reasons-table", "</table>");
        let first_row = &reasons[reasons.find("<tbody>").unwrap()..];
        let first_row = &first_row[..first_row.find("</tr>").unwrap()];
        assert_eq!(text(first_row), "authentication-requiredPartner mint2", "{reasons}");
        let refused: u64 = reasons.split("<tr>").skip(2).map(|row| cells(row)[1].parse::<u64>().unwrap()).sum();
        assert_eq!(refused, 5, "{reasons}");

        // Health: the database answers, nothing waits, every signing key is new, the purge ran at start.
        let health = text(element(&html, "health-facts", "</dl>"));
        for row in [
            "DatabaseAnswers",
            "Journal queue0 writes waiting",
            "SSO link key",
            "Identity key",
            "Prefill key",
            &format!("Last purge{} (0 s ago)", rfc3339(at)),
        ] {
            assert!(health.contains(row), "{row}: {health}");
        }
        assert_eq!(health.matches(", 0 s old").count(), 3, "{health}");
        assert!(html.contains("Your session"), "{html}");

        // Per day: the same counts today, thirty days in all.
        let days = overview(&server, &cookie, "?span=days").await;
        assert!(days.contains("<a href=\"/admin?span=days\" aria-current=\"true\">Last 30 days</a>"), "{days}");
        let (rows, total) = table(&days, "partner-mint");
        assert_eq!((rows.len(), rows[29], total), (30, (2, 3), (2, 3)));

        // Two hours on: two bars back; the portal session (and the operator's) went idle; the keys aged.
        server.clock.advance(2 * HOUR);
        let cookie = signed_in(&server).await;
        let html = overview(&server, &cookie, "").await;
        let (rows, _) = table(&html, "redemption");
        assert_eq!((rows[21], rows[23]), ((1, 1), (0, 0)));
        assert_eq!(tile(&html, "active-sessions"), 0);
        assert_eq!(text(element(&html, "health-facts", "</dl>")).matches(", 2 h old").count(), 3, "{html}");
    }
}
