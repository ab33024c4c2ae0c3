//! The `handoff` binary: parses the command line and hands over to the library crates.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use handoff_server::app::ADMIN_TOKEN_FILE;
use handoff_server::config::LogFormat;
use handoff_server::{demo, App, ConfigLayer, OfflineKeys, Settings};
use handoff_store::SqlStore;

mod admin;
mod audit;
mod db;
mod health;
mod logging;
mod webhook;

#[derive(Parser)]
#[command(name = "handoff", version, about = "Partner single sign-on for your portal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// TOML configuration file; environment and flags override it.
        #[arg(long, env = "HANDOFF_CONFIG")]
        config: Option<PathBuf>,
        /// Create demo data and print a ready curl line.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        layer: ConfigLayer,
    },
    /// Apply database migrations and exit (`--status`: only list them).
    Migrate {
        /// List applied and pending migrations without changing anything.
        #[arg(long)]
        status: bool,
        #[command(flatten)]
        target: Local,
    },
    /// Signing keys, straight in the configured database (no server or admin token needed).
    #[command(subcommand)]
    Keys(Keys),
    /// The audit log straight from the configured database: `export` for archiving.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Manage organizations, partners, users and read the audit log through the admin API.
    Admin(admin::AdminArgs),
    /// Sign, send and verify SSO webhooks (seed 002).
    #[command(subcommand)]
    Webhook(webhook::WebhookCommand),
    /// Copy a SQLite installation into PostgreSQL; back up the SQLite database while serving.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Ask the running server's `/healthz`; exit 0 when it answers 200 (container HEALTHCHECK).
    Healthcheck {
        /// URL to ask [default: /healthz on the configured `listen` address, over loopback].
        #[arg(long)]
        url: Option<String>,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
        #[command(flatten)]
        target: Local,
    },
}

/// The configuration of `serve`, for commands that work on its database directly.
#[derive(clap::Args)]
struct Local {
    /// TOML configuration file; environment and flags override it.
    #[arg(long, env = "HANDOFF_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    layer: ConfigLayer,
}

impl Local {
    fn settings(self) -> Result<Settings, String> {
        settings(self.config, self.layer)
    }
}

#[derive(Subcommand)]
enum Keys {
    /// Per kind, the key that signs and every key that verifies.
    List(Local),
    /// New SSO-token and identity keys: they sign on every node within 30 seconds, and the old
    /// ones keep verifying. Audited as `admin.keys.rotate`.
    Rotate(Local),
}

/// `handoff keys list|rotate`: prints JSON, like `handoff admin keys`.
async fn keys(command: Keys) -> Result<(), String> {
    let (target, rotate) = match command {
        Keys::List(target) => (target, false),
        Keys::Rotate(target) => (target, true),
    };
    let settings = target.settings()?;
    init_logging(settings.log_format);
    let keys = OfflineKeys::open(&settings, Arc::new(handoff_core::SystemClock)).await.map_err(|e| e.to_string())?;
    let answer = if rotate {
        serde_json::to_string_pretty(&keys.rotate().await.map_err(|e| e.to_string())?)
    } else {
        serde_json::to_string_pretty(&keys.describe())
    };
    println!("{}", answer.map_err(|e| e.to_string())?);
    Ok(())
}

/// Variables of the binary itself, beside the configuration keys.
const EXTRA_ENV: &[&str] = &["HANDOFF_CONFIG", "HANDOFF_URL", "HANDOFF_WEBHOOK_SECRET"];

fn settings(config: Option<PathBuf>, layer: ConfigLayer) -> Result<Settings, String> {
    ConfigLayer::check_env(std::env::vars().map(|(k, _)| k), EXTRA_ENV).map_err(|e| e.to_string())?;
    let file = match config {
        Some(path) => ConfigLayer::from_toml_file(&path).map_err(|e| e.to_string())?,
        None => ConfigLayer::default(),
    };
    Settings::resolve(layer.over(file)).map_err(|e| e.to_string())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.fmt_fields(logging::EscapedFields).init(),
    }
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when the
/// future is first polled, so a signal right after "listening" is already caught.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutting down: draining in-flight requests");
    }
}

async fn serve(settings: Settings, with_demo: bool) -> Result<(), String> {
    init_logging(settings.log_format);
    let app = App::build(settings, Arc::new(handoff_core::SystemClock)).await.map_err(|e| e.to_string())?;
    let addr = app.local_addr().map_err(|e| e.to_string())?;
    let public_url = app.services().settings().public_url.base.clone();
    if with_demo {
        let demo = demo::ensure(app.services()).await.map_err(|e| e.to_string())?;
        println!(
            "\nhandoff demo is running at {public_url}\n\nMint a one-time sign-in link as the demo partner (fresh \
             secrets are issued at every start):\n\n{}\n\nOpen the \"redirect_url\" of the answer in a browser: it \
             signs in Turid Jensen once, within {} seconds.\n\nThe web console is at {public_url}/admin: sign in \
             with the admin token ({}).\n",
            demo.curl(&public_url),
            app.services().settings().sso_token_ttl,
            admin_token_source(app.services().settings()),
        );
    }
    let shutdown = shutdown_signal();
    tracing::info!(%addr, %public_url, "handoff listening");
    let scheme = if app.services().settings().tls.is_some() { "https" } else { "http" };
    println!("handoff listening on {scheme}://{addr}");
    app.run(shutdown).await.map_err(|e| e.to_string())
}

/// Where the operator finds the admin token: never the token itself, which stays out of logs.
fn admin_token_source(settings: &Settings) -> String {
    match settings.admin_token {
        Some(_) => "the `admin_token` you configured".to_owned(),
        None => format!("in the file {}", settings.data_dir.join(ADMIN_TOKEN_FILE).display()),
    }
}

/// `handoff migrate`: apply pending migrations, or with `--status` only list them.
async fn migrate(settings: Settings, status_only: bool) -> Result<(), String> {
    init_logging(settings.log_format);
    let store = SqlStore::connect(&settings.database_url, &settings.pool).await.map_err(|e| e.to_string())?;
    if !status_only {
        store.migrate().await.map_err(|e| e.to_string())?;
    }
    let status = store.migration_status().await.map_err(|e| e.to_string())?;
    for (version, description, applied) in &status {
        println!("{version:>4}  {}  {description}", if *applied { "applied" } else { "pending" });
    }
    if status.iter().all(|(_, _, applied)| *applied) {
        println!("schema is up to date");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, demo, layer } => match settings(config, layer) {
            Ok(settings) => serve(settings, demo).await,
            Err(e) => Err(e),
        },
        Command::Migrate { status, target } => match target.settings() {
            Ok(settings) => migrate(settings, status).await,
            Err(e) => Err(e),
        },
        Command::Keys(command) => keys(command).await,
        Command::Audit(command) => audit::run(command).await,
        Command::Admin(args) => admin::run(args).await,
        Command::Webhook(command) => webhook::run(command).await,
        Command::Db(command) => db::run(command).await,
        Command::Healthcheck { url, timeout, target } => match target.settings() {
            Ok(settings) => health::run(&settings, url, std::time::Duration::from_secs(timeout)).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("handoff: {message}");
            ExitCode::FAILURE
        }
    }
}
