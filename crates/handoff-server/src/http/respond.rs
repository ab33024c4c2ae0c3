//! What every response goes through: problem rendering (JSON, HTML or seed 002's webhook shape),
//! auditing of refusals no service audited, request metrics and the security headers. Handlers
//! only say *what* went wrong; this module says it the same way everywhere. Also the one table
//! of handoff's own path prefixes ([`Surface::of`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use handoff_core::model::{bounded, AUDIT_FIELD_LIMIT};
use handoff_core::problem::ProblemKind;
use handoff_core::wire::{ErrorEnvelope, ProblemBody, WebhookError};
use handoff_core::Problem;

use crate::error::ApiError;
use crate::http::extract::context;
use crate::http::pages::{escape, page};
use crate::http::state::AppState;
use crate::infra::telemetry;
use crate::services::Ctx;

/// Origins allowed to frame this response (`/embed/` pages of a partner's session). Absent means
/// the response may not be framed at all.
#[derive(Debug, Clone)]
pub struct FrameAncestors(pub Vec<String>);

/// Marks a response that came from the upstream application: passed on as it is, with only the
/// framing headers added.
#[derive(Debug, Clone, Copy)]
pub struct Proxied;

/// Marks a page of the web console: served with [`CONSOLE_CSP`] (no inline style or script at
/// all; the stylesheet and the script are handoff's own files) and `Referrer-Policy:
/// same-origin`, so that the console's forms carry its `Origin` (`no-referrer` would make it
/// `null`) while no other site learns a console URL. A console page is final whatever its status:
/// it is not replaced by a problem page, nor audited here.
#[derive(Debug, Clone, Copy)]
pub struct ConsolePage;

/// The web console's policy: everything from handoff itself, nothing inline, never framed.
pub const CONSOLE_CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                               form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Marks a response whose refusal must not be audited (answers to "am I signed in?", routing
/// misses).
#[derive(Debug, Clone, Copy)]
pub struct NoAudit;

/// Whether a client's `x-request-id` may be kept: 1 to 64 of `A-Z a-z 0-9 . _ -`. Anything
/// else (long, spaces, quotes, `key=value` forgeries) would reach logs, audit records and
/// answers, so it is replaced by a generated id.
pub fn is_safe_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops a client's `x-request-id` unless it is one safe value ([`is_safe_request_id`]); the
/// request id layer then generates one.
pub async fn drop_unsafe_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut ids = headers.get_all(REQUEST_ID).iter();
    let keep = matches!((ids.next(), ids.next()), (Some(id), None) if is_safe_request_id(id.as_bytes()));
    if !keep {
        headers.remove(REQUEST_ID);
    }
    request
}

/// The request id header, set on every request and answer.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether the client asked for JSON rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("application/json") && !accept.contains("text/html"))
}

/// How a path's errors are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Always an `application/problem+json` envelope, whatever the client accepts.
    Json,
    /// An HTML page for a browser, the JSON envelope for a client asking for JSON.
    Page,
    /// Seed 002's `{"error": "<sentence>"}`.
    Webhook,
}

/// What a path belongs to: how its errors are written, what an unaudited refusal on it is
/// audited as, and whether it is handoff's own (never the protected application's).
#[derive(Debug, Clone, Copy)]
pub struct Surface {
    pub style: Style,
    pub kind: &'static str,
    pub reserved: bool,
}

/// handoff's own paths, first match wins: (path, whether it must match exactly rather than as
/// a prefix, style, audit kind, reserved).
const SURFACES: [(&str, bool, Style, &str, bool); 19] = [
    ("/v1/inbound/", false, Style::Webhook, "inbound.sso", true),
    ("/v1/sso", true, Style::Json, "sso.mint", true),
    ("/v1/organizations/", false, Style::Json, "partner.users", true),
    ("/v1/", false, Style::Json, "http.request", true),
    ("/admin/v1/", false, Style::Json, "admin.request", true),
    ("/admin", true, Style::Page, "console.request", true),
    ("/admin/sign-in", true, Style::Page, "console.sign_in", true),
    ("/admin/sign-out", true, Style::Page, "console.sign_out", true),
    ("/admin/", false, Style::Page, "console.request", true),
    ("/auth/sso", true, Style::Page, "sso.redeem", true),
    ("/auth/session", false, Style::Json, "http.request", true),
    ("/auth/verify", false, Style::Json, "http.request", true),
    ("/auth/", false, Style::Page, "http.request", true),
    ("/errors/", false, Style::Page, "http.request", true),
    ("/.well-known/", false, Style::Json, "http.request", true),
    ("/launch/", false, Style::Page, "http.request", true),
    ("/healthz", false, Style::Json, "http.request", false),
    ("/readyz", false, Style::Json, "http.request", false),
    ("/metrics", false, Style::Json, "http.request", false),
];

impl Surface {
    pub fn of(path: &str) -> Self {
        SURFACES
            .iter()
            .find(|(prefix, exact, ..)| if *exact { path == *prefix } else { path.starts_with(prefix) })
            .map_or(
                Self { style: Style::Page, kind: "http.request", reserved: false },
                |&(_, _, style, kind, reserved)| Self { style, kind, reserved },
            )
    }
}

/// The problem carried from a handler to the renderer.
#[derive(Debug, Clone)]
pub struct ProblemResponse {
    pub problem: Problem,
    pub retry_after: Option<u64>,
    pub audited: bool,
    pub reason: Option<&'static str>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.problem.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(ProblemResponse {
            problem: self.problem,
            retry_after: self.retry_after,
            audited: self.audited,
            reason: self.reason,
        });
        response
    }
}

/// Renders problems, audits refusals and sets the security headers on every response. The
/// request's [`Ctx`] is resolved here, once, and handed to handlers as an extension.
pub async fn finish(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ctx = context(state.settings(), request.headers(), request.extensions());
    request.extensions_mut().insert(ctx.clone());
    let path = request.uri().path().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("other", MatchedPath::as_str).to_owned();
    let method = request.method().clone();
    let surface = Surface::of(&path);
    let browser = surface.style == Style::Page && !wants_json(request.headers());
    let response = if method.as_str().len() > MAX_METHOD_LEN {
        route_miss(ApiError::invalid("The request method is not one handoff knows."))
    } else {
        next.run(request).await
    };
    let response = finish_response(&state, &ctx, &path, surface, browser, response).await;
    telemetry::request(route, &method, response.status(), started);
    response
}

/// An answer carrying a sign-in link (`POST /v1/sso`, the inbound webhook): JSON serialized into
/// a buffer that holds it from the start. The token and the link that repeats it make these
/// answers about 1 KiB, which axum's `Json` (128 bytes at first) reaches only after growing and
/// copying its buffer four times.
pub struct LinkJson<T>(pub T);

/// Room for a sign-in answer: a link and its token are about 1 KiB together.
const LINK_ANSWER_CAPACITY: usize = 1536;

impl<T: serde::Serialize> IntoResponse for LinkJson<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(LINK_ANSWER_CAPACITY);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            Err(err) => {
                tracing::error!(%err, "cannot serialize an answer");
                ApiError::internal().into_response()
            }
        }
    }
}

/// Longer than any method in IANA's registry (`UPDATEREDIRECTREF` has 17 letters): refused.
const MAX_METHOD_LEN: usize = 17;

/// A refusal of a request that reached no handler and named no credential (an unknown path or
/// method): answered like any other, but not audited — it says nothing about anyone, and
/// auditing it would let any client grow the database at will. `/metrics` counts them.
pub fn route_miss(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.extensions_mut().insert(NoAudit);
    response
}

/// The second half of [`finish`]: renders a handler's problem (auditing it when no service did)
/// and sets the security headers.
async fn finish_response(
    state: &AppState,
    ctx: &Ctx,
    path: &str,
    surface: Surface,
    browser: bool,
    mut response: Response,
) -> Response {
    let mut no_audit = response.extensions().get::<NoAudit>().is_some();
    let frame = response.extensions().get::<FrameAncestors>().cloned();
    let problem = match response.extensions_mut().remove::<ProblemResponse>() {
        Some(problem) => problem,
        // The upstream's answers pass as they are; a console page is rendered, whatever its status
        // (a refused sign-in shows the form again: the service audited the refusal).
        None if response.extensions().get::<Proxied>().is_some()
            || response.extensions().get::<ConsolePage>().is_some() =>
        {
            security_headers(path, &mut response);
            return response;
        }
        None if response.status().is_client_error() || response.status().is_server_error() => {
            let problem = framework_problem(response).await;
            no_audit |= matches!(problem.problem.kind, ProblemKind::NotFound | ProblemKind::MethodNotAllowed);
            problem
        }
        None => {
            security_headers(path, &mut response);
            return response;
        }
    };
    if !problem.audited && !no_audit && problem.problem.kind != ProblemKind::Internal {
        let mut event = ctx.event(surface.kind);
        event.detail = Some(format!("{}: {}", bounded(path, AUDIT_FIELD_LIMIT), problem.problem.detail));
        let error = ApiError { reason: problem.reason, ..ApiError::from(problem.problem.clone()) };
        // A failed audit write is logged by the store error mapping; the refusal stands.
        let _ = state.refuse(event, error).await;
    }
    let mut response = render_problem(state, &problem, surface, ctx.request_id.as_deref(), browser);
    if let Some(frame) = frame {
        response.extensions_mut().insert(frame);
    }
    security_headers(path, &mut response);
    response
}

/// Turns a bare error response from axum itself (a rejected extractor, an unknown method) into
/// a problem, keeping its message as the detail.
async fn framework_problem(response: Response) -> ProblemResponse {
    let status = response.status();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    let kind = match status {
        StatusCode::UNAUTHORIZED => ProblemKind::AuthenticationRequired,
        StatusCode::FORBIDDEN => ProblemKind::Forbidden,
        StatusCode::NOT_FOUND => ProblemKind::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ProblemKind::MethodNotAllowed,
        StatusCode::REQUEST_TIMEOUT => ProblemKind::RequestTimeout,
        StatusCode::PAYLOAD_TOO_LARGE => ProblemKind::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ProblemKind::UnsupportedMediaType,
        s if s.is_server_error() => ProblemKind::Internal,
        _ => ProblemKind::InvalidRequest,
    };
    let detail = match kind {
        ProblemKind::NotFound => "No such resource.".to_owned(),
        ProblemKind::MethodNotAllowed => "This method is not allowed on this path.".to_owned(),
        ProblemKind::RequestTimeout => "The request took too long; send it again, faster.".to_owned(),
        ProblemKind::Internal => "An internal error occurred; quote the request id to support.".to_owned(),
        _ if text.is_empty() => kind.title().to_owned(),
        _ => text,
    };
    ProblemResponse { problem: Problem::new(kind, detail), retry_after: None, audited: false, reason: None }
}

fn render_problem(
    state: &AppState,
    p: &ProblemResponse,
    surface: Surface,
    request_id: Option<&str>,
    browser: bool,
) -> Response {
    let kind = p.problem.kind;
    let status = StatusCode::from_u16(kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if browser {
        (status, Html(problem_page(&p.problem, request_id))).into_response()
    } else if surface.style == Style::Webhook {
        // Seed 002's error shape: one sentence.
        (status, Json(WebhookError { error: p.problem.detail.clone() })).into_response()
    } else {
        let body = ErrorEnvelope {
            success: false,
            error: ProblemBody {
                type_uri: state.settings().public_url.join(&format!("/errors/{}", kind.slug())),
                title: kind.title().to_owned(),
                status: kind.status(),
                detail: p.problem.detail.clone(),
                request_id: request_id.map(str::to_owned),
            },
        };
        let mut response = (status, Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        response
    };
    if let Some(seconds) = p.retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// What the person in front of the browser should do next.
fn advice(kind: ProblemKind) -> &'static str {
    match kind {
        ProblemKind::ExpiredToken => {
            "Sign-in links work for a few minutes only. Go back to the application you came from and \
             open the portal again: it will make a fresh link."
        }
        ProblemKind::TokenAlreadyUsed => {
            "Each sign-in link works exactly once. Go back to the application you came from and open the \
             portal again. If you did not open this link before, tell your administrator."
        }
        ProblemKind::InvalidToken => {
            "The link is damaged or incomplete (it may have been cut when copied). Go back to the \
             application you came from and open the portal again."
        }
        ProblemKind::AuthenticationRequired => {
            "You are not signed in, or your session has ended. Open the portal again from the \
             application you use."
        }
        ProblemKind::Forbidden => "Your account may not open this page. Ask your administrator for access.",
        ProblemKind::RateLimited => "Too many attempts. Wait a minute, then try again.",
        _ => "Go back and try again. If it keeps happening, contact support and quote the request id.",
    }
}

fn problem_page(problem: &Problem, request_id: Option<&str>) -> String {
    let reference = request_id
        .map(|id| format!("<p class=\"muted\">Request id: <code>{}</code></p>", escape(id)))
        .unwrap_or_default();
    page(
        problem.kind.title(),
        &format!(
            "<h1>{}</h1><p>{}</p><p>{}</p>{reference}",
            escape(problem.kind.title()),
            escape(&problem.detail),
            escape(advice(problem.kind)),
        ),
    )
}

fn set_default(headers: &mut HeaderMap, name: header::HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

fn security_headers(path: &str, response: &mut Response) {
    let frame = response.extensions().get::<FrameAncestors>().map(|f| f.0.join(" "));
    let proxied = response.extensions().get::<Proxied>().is_some();
    let console = response.extensions().get::<ConsolePage>().is_some();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    // The five headers below join the answer's own: room for them at once.
    headers.reserve(5);
    let framed = frame.as_deref().filter(|origins| !origins.is_empty());
    let ancestors = framed.unwrap_or("'none'");
    let csp = if console {
        Ok(HeaderValue::from_static(CONSOLE_CSP))
    } else if is_html && !proxied {
        HeaderValue::from_str(&format!(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; base-uri 'none'; \
             frame-ancestors {ancestors}"
        ))
    } else if framed.is_some() {
        HeaderValue::from_str(&format!("frame-ancestors {ancestors}"))
    } else {
        // Every API answer: no allocation.
        Ok(HeaderValue::from_static("frame-ancestors 'none'"))
    };
    if let Ok(value) = csp {
        // The application's own policy stays; browsers enforce both.
        if proxied {
            headers.append(header::CONTENT_SECURITY_POLICY, value);
        } else {
            headers.insert(header::CONTENT_SECURITY_POLICY, value);
        }
    }
    if framed.is_none() {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    } else {
        headers.remove(header::X_FRAME_OPTIONS);
    }
    set_default(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    if console {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    set_default(headers, header::REFERRER_POLICY, "no-referrer");
    if !proxied && !path.starts_with("/errors/") && path != "/.well-known/jwks.json" {
        set_default(headers, header::CACHE_CONTROL, "no-store");
    }
}
