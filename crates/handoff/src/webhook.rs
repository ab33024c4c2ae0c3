//! `handoff webhook …`: sign, send and verify SSO webhooks exactly as handoff does, for
//! integrators testing either side of seed 002. Uses `handoff_core::webhook`, the one
//! implementation of the signature profiles.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use handoff_core::webhook::{check_timestamp, SignatureProfile, SsoEvent, SsoEventData};
use handoff_core::{Clock, SystemClock};
use time::format_description::well_known::Rfc3339;

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Print the signature headers (and a curl line) for an event.
    Sign(SignArgs),
    /// Sign an event and POST it to an endpoint, as a portal would; print the answer.
    Send(SendArgs),
    /// Check a captured request's signature and timestamp against a secret.
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
    /// The shared secret (`whsec_…`).
    #[arg(long, env = "HANDOFF_WEBHOOK_SECRET", hide_env_values = true)]
    secret: String,
    /// timestamp-body-hex | timestamp-body-base64 | body-hex | body-base64.
    #[arg(long, default_value = "timestamp-body-hex")]
    profile: SignatureProfile,
    /// The timestamp header value [default: now, Unix seconds].
    #[arg(long)]
    timestamp: Option<String>,
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
    /// The captured timestamp header value.
    #[arg(long)]
    timestamp: String,
    /// The captured signature header value.
    #[arg(long)]
    signature: String,
    /// The captured raw body.
    #[arg(long)]
    body_file: PathBuf,
    /// Seconds of allowed clock difference; 0 skips the freshness check (for old captures).
    #[arg(long, default_value_t = 15)]
    tolerance: i64,
}

/// The body to sign: the file's bytes, or a fresh event.
fn body(event: &EventArgs) -> Result<Vec<u8>, String> {
    if let Some(path) = &event.body_file {
        return std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()));
    }
    let now = SystemClock.now().format(&Rfc3339).map_err(|e| e.to_string())?;
    let sso = SsoEvent {
        event_id: event.event_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        event_type: event.event_type.clone(),
        event_timestamp: now,
        data: SsoEventData {
            email: event.email.clone(),
            first_name: event.first_name.clone(),
            last_name: event.last_name.clone(),
            org_no: event.org_no.clone(),
        },
    };
    serde_json::to_vec(&sso).map_err(|e| e.to_string())
}

/// (timestamp header value, signature header value, body).
fn signed(args: &SigningArgs) -> Result<(String, String, Vec<u8>), String> {
    let body = body(&args.event)?;
    let timestamp = args.timestamp.clone().unwrap_or_else(|| SystemClock.unix().to_string());
    let signature = args.profile.sign(&args.secret, &timestamp, &body);
    Ok((timestamp, signature, body))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

pub async fn run(command: WebhookCommand) -> Result<(), String> {
    match command {
        WebhookCommand::Sign(args) => {
            let (timestamp, signature, body) = signed(&args.signing)?;
            let body = String::from_utf8_lossy(&body);
            println!("Vinst-Timestamp: {timestamp}\nVinst-Signature: {signature}\n\n{body}\n");
            println!(
                "curl -s -X POST {} -H 'Content-Type: application/json' -H 'Vinst-Timestamp: {timestamp}' \
                 -H 'Vinst-Signature: {signature}' --data-binary {}",
                shell_quote(&args.url),
                shell_quote(&body)
            );
            Ok(())
        }
        WebhookCommand::Send(args) => {
            let (timestamp, signature, body) = signed(&args.signing)?;
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(args.timeout))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            let response = client
                .post(&args.url)
                .header("Content-Type", "application/json")
                .header("Vinst-Timestamp", &timestamp)
                .header("Vinst-Signature", &signature)
                .body(body)
                .send()
                .await
                .map_err(|e| format!("request failed: {e}"))?;
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
            let body =
                std::fs::read(&args.body_file).map_err(|e| format!("cannot read {}: {e}", args.body_file.display()))?;
            if args.tolerance > 0 {
                check_timestamp(&args.timestamp, SystemClock.unix(), args.tolerance)
                    .map_err(|e| format!("invalid: {e}"))?;
            }
            if args.profile.verify(args.secrets.iter().map(String::as_str), &args.timestamp, &body, &args.signature) {
                println!("valid");
                Ok(())
            } else {
                Err("invalid: the signature does not match this body, timestamp, secret and profile".into())
            }
        }
    }
}
