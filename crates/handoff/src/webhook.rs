//! `handoff webhook …`: sign, send and verify SSO webhooks exactly as handoff does, for
//! integrators testing either side of seed 002. Uses `handoff-webhook`, the one implementation
//! of the signature profiles; `verify --request` reads a captured request and names the check
//! that failed.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use handoff_core::webhook::{SsoEvent, SsoEventData};
use handoff_core::{Clock, SystemClock};
use handoff_webhook::{Request, SignatureProfile, VerifyError};
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Print the signature headers (and a curl line) for an event.
    Sign(SignArgs),
    /// Sign an event and POST it to an endpoint, as a portal would; print the answer.
    Send(SendArgs),
    /// Check a captured request (or its parts) against a secret; names the check that failed.
    Verify(VerifyArgs),
}

#[derive(Args)]
pub struct EventArgs {
    /// The raw body to sign, byte for byte (instead of building an event from the fields below).
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[arg(long, default_value = "turid@jensen.com")]
    email: String,
    #[arg(long, default_value = "Turid")]
    first_name: String,
    #[arg(long, default_value = "Jensen")]
    last_name: String,
    #[arg(long, default_value = "123456789")]
    org_no: String,
    #[arg(long, default_value = "Vinst_SSO")]
    event_type: String,
    /// [default: a fresh UUID]
    #[arg(long)]
    event_id: Option<String>,
}

#[derive(Args)]
pub struct SigningArgs {
    /// The shared secret (`whsec_…`). Repeat it with `standard-webhooks` to sign with each (a
    /// rotation's overlap); the Vinst profiles sign with the first.
    #[arg(long = "secret", env = "HANDOFF_WEBHOOK_SECRET", hide_env_values = true, required = true)]
    secrets: Vec<String>,
    /// timestamp-body-hex | timestamp-body-base64 | body-hex | body-base64 | standard-webhooks.
    #[arg(long, default_value = "timestamp-body-hex")]
    profile: SignatureProfile,
    /// The timestamp header value [default: now, Unix seconds].
    #[arg(long)]
    timestamp: Option<String>,
    /// The `webhook-id` (`standard-webhooks`) [default: the event's eventId, or a fresh one].
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    event: EventArgs,
}

#[derive(Args)]
pub struct SignArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The endpoint, for the printed curl line.
    #[arg(long, default_value = "http://127.0.0.1:8080/v1/inbound/SLUG/sso")]
    url: String,
}

#[derive(Args)]
pub struct SendArgs {
    #[command(flatten)]
    signing: SigningArgs,
    /// The endpoint to POST to.
    #[arg(long)]
    url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// An active secret (repeat for the rotation overlap).
    #[arg(long = "secret", required = true)]
    secrets: Vec<String>,
    #[arg(long, default_value = "timestamp-body-hex")]
    profile: SignatureProfile,
    /// A captured request: header lines (`Name: value`, an HTTP request line first is skipped),
    /// a blank line, then the raw body. Instead of the three options below.
    #[arg(long, conflicts_with_all = ["timestamp", "signature", "body_file", "id"])]
    request: Option<PathBuf>,
    /// The captured `webhook-id` header value (`standard-webhooks`).
    #[arg(long)]
    id: Option<String>,
    /// The captured timestamp header value.
    #[arg(long, required_unless_present = "request")]
    timestamp: Option<String>,
    /// The captured signature header value.
    #[arg(long, required_unless_present = "request")]
    signature: Option<String>,
    /// The captured raw body.
    #[arg(long, required_unless_present = "request")]
    body_file: Option<PathBuf>,
    /// Seconds of allowed clock difference; 0 skips the freshness check (for old captures).
    #[arg(long, default_value_t = 15)]
    tolerance: i64,
}

/// The body to sign (the file's bytes, or a fresh event) and its eventId if it is built here.
fn body(event: &EventArgs) -> Result<(Vec<u8>, Option<String>), String> {
    if let Some(path) = &event.body_file {
        return Ok((std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?, None));
    }
    let now = SystemClock.now().format(&Rfc3339).map_err(|e| e.to_string())?;
    let event_id = event.event_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let sso = SsoEvent {
        event_id: event_id.clone(),
        event_type: event.event_type.clone(),
        event_timestamp: now,
        data: SsoEventData {
            email: event.email.clone(),
            first_name: event.first_name.clone(),
            last_name: event.last_name.clone(),
            org_no: event.org_no.clone(),
        },
    };
    Ok((serde_json::to_vec(&sso).map_err(|e| e.to_string())?, Some(event_id)))
}

/// A signed request: its signature headers (names as sent, values) and body.
struct Signed {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn signed(args: &SigningArgs) -> Result<Signed, String> {
    let (body, event_id) = body(&args.event)?;
    let timestamp = args.timestamp.clone().unwrap_or_else(|| SystemClock.unix().to_string());
    let id = args.id.clone().or(event_id).unwrap_or_else(|| format!("msg_{}", uuid::Uuid::new_v4().simple()));
    let secrets: Vec<&str> = args.secrets.iter().map(String::as_str).collect();
    let signature = args.profile.sign(&secrets, &id, &timestamp, &body).map_err(|e| format!("--secret: {e}"))?;
    let names = args.profile.headers();
    let mut headers = Vec::new();
    if let Some(name) = names.id {
        headers.push((name.to_owned(), id));
    }
    headers.push((sent_name(names.timestamp[0]), timestamp));
    headers.push((sent_name(names.signature[0]), signature));
    Ok(Signed { headers, body })
}

/// A header name as the seed writes it (`Vinst-Timestamp`); Standard Webhooks' are lower case.
fn sent_name(name: &str) -> String {
    if !name.starts_with("vinst-") {
        return name.to_owned();
    }
    name.split('-')
        .map(|part| part.get(..1).unwrap_or_default().to_uppercase() + part.get(1..).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("-")
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A captured request: `(lower-case name, value)` headers and the raw body.
struct Captured {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads headers, a blank line and the body; CRLF or LF line ends; an HTTP request line first
/// (`POST /path HTTP/1.1`) is skipped.
fn parse_captured(bytes: &[u8]) -> Result<Captured, String> {
    let (head, body) = [&b"\r\n\r\n"[..], b"\n\n"]
        .iter()
        .filter_map(|sep| bytes.windows(sep.len()).position(|w| w == *sep).map(|at| (at, sep.len())))
        .min()
        .map(|(at, len)| (&bytes[..at], &bytes[at + len..]))
        .ok_or("the request has no blank line between its headers and its body")?;
    let head = std::str::from_utf8(head).map_err(|_| "the request's headers are not UTF-8")?;
    let mut headers = Vec::new();
    for (n, line) in head.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if n == 0 && (line.ends_with(" HTTP/1.1") || line.ends_with(" HTTP/1.0")) {
            continue;
        }
        let (name, value) =
            line.split_once(':').ok_or_else(|| format!("line {} is not `Name: value`: {line:?}", n + 1))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Ok(Captured { headers, body: body.to_vec() })
}

/// What a failed check means, for the person holding the capture.
fn explain(error: VerifyError, profile: SignatureProfile) -> String {
    let names = profile.headers();
    let hint = match error {
        VerifyError::IdMissing | VerifyError::IdInvalid => "send the message id in webhook-id".to_owned(),
        VerifyError::TimestampMissing => format!("send the timestamp in {}", names.timestamp[0]),
        VerifyError::TimestampInvalid if profile == SignatureProfile::StandardWebhooks => {
            "webhook-timestamp is Unix seconds".to_owned()
        }
        VerifyError::TimestampInvalid => "use Unix seconds or RFC 3339".to_owned(),
        VerifyError::TimestampTooOld | VerifyError::TimestampTooNew => {
            "check the sender's clock, or pass --tolerance 0 for an old capture".to_owned()
        }
        VerifyError::SignatureMissing => format!("send the signature in {}", names.signature[0]),
        VerifyError::VersionUnsupported => "list at least one v1,<base64> signature".to_owned(),
        VerifyError::Mismatch => {
            format!(
                "the signature does not match this body, {}timestamp, secret and profile ({profile})",
                if names.id.is_some() { "id, " } else { "" }
            )
        }
        VerifyError::Secret(_) => "check the --secret".to_owned(),
    };
    format!("invalid: {} ({}): {hint}", error, error.reason())
}

fn verify(args: &VerifyArgs) -> Result<String, String> {
    let captured = match &args.request {
        Some(path) => {
            parse_captured(&std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)?
        }
        None => {
            let path = args.body_file.as_ref().ok_or("--body-file is required")?;
            let body = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let names = args.profile.headers();
            let mut headers = Vec::new();
            headers.extend(names.id.zip(args.id.clone()).map(|(n, v)| (n.to_owned(), v)));
            headers.extend(args.timestamp.clone().map(|v| (names.timestamp[0].to_owned(), v)));
            headers.extend(args.signature.clone().map(|v| (names.signature[0].to_owned(), v)));
            Captured { headers, body }
        }
    };
    let header = |name: &str| captured.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let request = Request::from_headers(args.profile, header, &captured.body);
    let secrets: Vec<&str> = args.secrets.iter().map(String::as_str).collect();
    for secret in &secrets {
        args.profile.key(secret).map_err(|e| format!("--secret: {e}"))?;
    }
    let checked = if args.tolerance > 0 {
        args.profile.verify(&secrets, &request, SystemClock.unix(), args.tolerance).map(drop)
    } else {
        args.profile.verify_signature(&secrets, &request)
    };
    checked.map_err(|e| explain(e, args.profile))?;
    Ok("valid".to_owned())
}

pub async fn run(command: WebhookCommand) -> Result<(), String> {
    match command {
        WebhookCommand::Sign(args) => {
            let signed = signed(&args.signing)?;
            let body = String::from_utf8_lossy(&signed.body);
            let lines: Vec<String> = signed.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
            println!("{}\n\n{body}\n", lines.join("\n"));
            let flags: Vec<String> = lines.iter().map(|l| format!("-H {}", shell_quote(l))).collect();
            println!(
                "curl -s -X POST {} -H 'Content-Type: application/json' {} --data-binary {}",
                shell_quote(&args.url),
                flags.join(" "),
                shell_quote(&body)
            );
            Ok(())
        }
        WebhookCommand::Send(args) => {
            let signed = signed(&args.signing)?;
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(args.timeout))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            let mut request = client.post(&args.url).header("Content-Type", "application/json");
            for (name, value) in &signed.headers {
                request = request.header(name, value);
            }
            let response = request.body(signed.body).send().await.map_err(|e| format!("request failed: {e}"))?;
            let status = response.status();
            let text = response.text().await.map_err(|e| e.to_string())?;
            println!("{}\n{text}", status.as_u16());
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the endpoint answered {status}"))
            }
        }
        WebhookCommand::Verify(args) => {
            println!("{}", verify(&args)?);
            Ok(())
        }
    }
}
