//! Audit event streams: the operator's streams (create, list, read, pause, resume, delete, each
//! audited) and their delivery, a background step every node runs.
//!
//! Delivery is at least once and in commit order. Each step, for every stream that is not
//! paused and not waiting out a backoff: take or renew the stream's lease (one node delivers a
//! stream at a time; a dead node's lease expires after `LEASE_SECONDS`), read a page of the log
//! after the cursor, filter it, deliver what the stream carries, and only then move the cursor
//! past the whole page — fenced by the lease, so a node that lost it moves nothing. A failure
//! keeps the cursor, counts, and waits `backoff`; the next attempt sends the same records again.
//! A node that dies after delivering and before moving the cursor makes the next holder send
//! the batch again, with the same record ids (and the same `webhook-id`).
//!
//! Owns: the field rules of a stream, the delivery loop. Must not: format records (that is
//! `handoff_core::export`'s one serialiser) or touch files and sockets itself (`infra::streams`).

use futures_util::future::join_all;
use handoff_core::export::{self, Format};
use handoff_core::ids::StreamId;
use handoff_core::model::AuditRecord;
use handoff_core::secret::random_bytes;
use handoff_core::store::{Store, StreamLag};
use handoff_core::stream::{backoff, batch_id, AuditStream, Filter, StreamKind, StreamState, BATCH, LEASE_SECONDS};
use handoff_core::wire::CreateStream;
use handoff_webhook::SignatureProfile;

use super::inbound::MAX_SLUG_LEN;
use super::registry::parse_id;
use super::{Ctx, Services};
use crate::error::{ApiError, ApiResult};
use crate::infra::sealer::stream_context;
use crate::infra::streams::{append_lines, post_batch, ROTATE_BYTES};
use crate::infra::telemetry;

/// How webhook batches are signed: Standard Webhooks 1.0.
const PROFILE: SignatureProfile = SignatureProfile::StandardWebhooks;

/// How many pages one step delivers per stream at most before it lets the others have a turn
/// (a stream far behind catches up at this many batches per step).
const PAGES_PER_STEP: usize = 20;

/// A stream with how far it is behind.
#[derive(Debug, Clone)]
pub struct StreamStatus {
    pub stream: AuditStream,
    pub state: StreamState,
    pub lag: StreamLag,
}

fn stream_name(name: &str) -> ApiResult<String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_SLUG_LEN
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ApiError::invalid("name must be 1 to 64 characters of a-z, 0-9 and '-'."))
    }
}

/// A jsonl stream's file: an absolute path without `..`, in a directory that exists here.
fn stream_path(path: &str) -> ApiResult<String> {
    let p = std::path::Path::new(path);
    let plain = p.is_absolute()
        && path.len() <= 4096
        && !path.contains('\0')
        && p.components().all(|c| !matches!(c, std::path::Component::ParentDir));
    if !plain {
        return Err(ApiError::invalid("path must be an absolute file path without '..'."));
    }
    match (p.parent(), std::fs::metadata(p)) {
        (_, Ok(meta)) if !meta.is_file() => Err(ApiError::invalid("path names something that is not a file.")),
        (Some(dir), _) if dir.is_dir() => Ok(path.to_owned()),
        _ => Err(ApiError::invalid("path must be in a directory that exists.")),
    }
}

/// What a delivered page says about the next: the page was full (more may wait), or stop for
/// this step (caught up, failed, or the lease is gone).
#[derive(Debug, PartialEq, Eq)]
enum Page {
    Full,
    Stop,
}

/// Logs why a stream's step stopped.
fn stop(err: &dyn std::fmt::Display, stream: &AuditStream, what: &str) -> Page {
    tracing::warn!(%err, stream = %stream.name, "{what}");
    Page::Stop
}

/// A number in `[0, 1)` from the CSPRNG: the backoff's jitter.
fn jitter() -> f64 {
    let bits = u64::from_le_bytes(random_bytes::<8>()) >> 11;
    // 53 bits: exact in an f64.
    #[allow(clippy::cast_precision_loss)]
    let unit = bits as f64 / (1_u64 << 53) as f64;
    unit
}

impl Services {
    /// Now in Unix milliseconds (the backoff's resolution).
    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Creates a stream delivering the records committed from now on; a webhook stream's
    /// signing secret is returned once.
    pub async fn create_stream(&self, ctx: &Ctx, body: CreateStream) -> ApiResult<(StreamStatus, Option<String>)> {
        let name = stream_name(&body.name)?;
        let kind: StreamKind = body.kind.parse().map_err(ApiError::invalid)?;
        let filter = Filter::parse(body.kinds, body.outcomes).map_err(ApiError::invalid)?;
        let (url, path) = match kind {
            StreamKind::Webhook => {
                if body.path.is_some() {
                    return Err(ApiError::invalid("path is for jsonl streams; a webhook stream takes url."));
                }
                let url = body.url.ok_or_else(|| ApiError::invalid("url is required for a webhook stream."))?;
                (Some(self.outbound_endpoint("url", "Webhook streams", &url).await?), None)
            }
            StreamKind::Jsonl => {
                if body.url.is_some() {
                    return Err(ApiError::invalid("url is for webhook streams; a jsonl stream takes path."));
                }
                let path = body.path.ok_or_else(|| ApiError::invalid("path is required for a jsonl stream."))?;
                (None, Some(stream_path(&path)?))
            }
        };
        let mut stream = AuditStream::new(name, kind, url, path, filter, self.now());
        let secret = match kind {
            StreamKind::Webhook => Some(self.new_stream_secret(&mut stream)?),
            StreamKind::Jsonl => None,
        };
        let store = self.store.fresh();
        store.create_stream(&stream).await?;
        self.admin_accepted(ctx, "admin.stream.create", |e| {
            e.detail = Some(format!("stream={} kind={}", stream.name, stream.kind));
        })
        .await?;
        Ok((self.status_of(stream).await?, secret))
    }

    pub async fn streams(&self) -> ApiResult<Vec<StreamStatus>> {
        let mut statuses = Vec::new();
        for stream in self.store.fresh().streams().await? {
            statuses.push(self.status_of(stream).await?);
        }
        Ok(statuses)
    }

    pub async fn admin_stream(&self, id: &str) -> ApiResult<StreamStatus> {
        let stream = self.find_stream(id).await?;
        self.status_of(stream).await
    }

    /// Deletes a stream; what it has not delivered stays in the audit log.
    pub async fn delete_stream(&self, ctx: &Ctx, id: &str) -> ApiResult<()> {
        let stream = self.find_stream(id).await?;
        self.store.fresh().delete_stream(stream.id).await?;
        self.admin_accepted(ctx, "admin.stream.delete", |e| e.detail = Some(format!("stream={}", stream.name))).await
    }

    /// Pauses (`true`) or resumes a stream; a resumed stream goes on from its cursor at once.
    pub async fn pause_stream(&self, ctx: &Ctx, id: &str, paused: bool) -> ApiResult<StreamStatus> {
        let stream = self.find_stream(id).await?;
        if !self.store.fresh().set_stream_paused(stream.id, paused).await? {
            return Err(ApiError::not_found("No stream with this id."));
        }
        let kind = if paused { "admin.stream.pause" } else { "admin.stream.resume" };
        self.admin_accepted(ctx, kind, |e| e.detail = Some(format!("stream={}", stream.name))).await?;
        let stream = self.find_stream(id).await?;
        self.status_of(stream).await
    }

    async fn find_stream(&self, id: &str) -> ApiResult<AuditStream> {
        let id: StreamId = parse_id(id, "stream")?;
        self.store.fresh().stream(id).await?.ok_or_else(|| ApiError::not_found("No stream with this id."))
    }

    async fn status_of(&self, stream: AuditStream) -> ApiResult<StreamStatus> {
        let lag = self.store.fresh().stream_lag(stream.cursor).await?;
        Ok(StreamStatus { state: StreamState::of(&stream), lag, stream })
    }

    /// Every stream's lag and state for `/metrics` (read at scrape time); empty when the
    /// database does not answer (the cause goes to the log).
    pub async fn stream_gauges(&self) -> Vec<telemetry::StreamGauge> {
        let now = self.now();
        match self.streams().await {
            Ok(statuses) => statuses
                .into_iter()
                .map(|s| telemetry::StreamGauge {
                    name: s.stream.name,
                    lag_records: s.lag.records,
                    lag_seconds: s.lag.oldest_at.map_or(0, |at| (now - at).max(0)),
                    failing: s.state == StreamState::Failing,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// One delivery step over every stream (background, every node, every ~250 ms): the
    /// streams this node may deliver now, concurrently. `true` when a stream is still behind
    /// after its [`PAGES_PER_STEP`] pages: the caller steps again at once instead of waiting.
    pub async fn deliver_streams(&self) -> bool {
        let streams = match self.store.fresh().streams().await {
            Ok(streams) => streams,
            Err(err) => {
                tracing::warn!(%err, "reading the audit streams failed");
                return false;
            }
        };
        let (now, now_ms) = (self.now(), self.now_ms());
        let due = streams.into_iter().filter(|s| {
            let free = s.lease_owner.as_deref().is_none_or(|owner| owner == self.node) || s.lease_until < now;
            !s.paused && s.next_attempt_at <= now_ms && free
        });
        join_all(due.map(|s| self.deliver(s))).await.into_iter().any(|behind| behind)
    }

    /// This node's name in stream leases (random at every start).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Gives up this node's stream leases (shutting down).
    pub async fn release_streams(&self) {
        let store = self.store.fresh();
        if let Ok(streams) = store.streams().await {
            for stream in streams.iter().filter(|s| s.lease_owner.as_deref() == Some(self.node.as_str())) {
                if let Err(err) = store.release_stream(stream.id, &self.node).await {
                    tracing::warn!(%err, stream = %stream.name, "releasing a stream's lease failed");
                }
            }
        }
    }

    /// Delivers what `stream` (as listed this step) has to deliver, under its lease, up to
    /// [`PAGES_PER_STEP`] pages; `true` when it delivered them all and more may be waiting.
    async fn deliver(&self, mut stream: AuditStream) -> bool {
        let store = self.store.fresh();
        for _ in 0..PAGES_PER_STEP {
            if self.deliver_page(store.as_ref(), &mut stream).await != Page::Full {
                return false;
            }
        }
        true
    }

    /// Delivers the next page of `stream` and moves its cursor past it.
    async fn deliver_page(&self, store: &dyn Store, stream: &mut AuditStream) -> Page {
        let now = self.now();
        let mine = stream.lease_owner.as_deref() == Some(self.node.as_str());
        // A lease is renewed once a third of it has passed, not at every page: on SQLite every
        // renewal is a write the journal's writer waits for.
        if !mine || stream.lease_until - now < LEASE_SECONDS * 2 / 3 {
            match store.lease_stream(stream.id, &self.node, now, now + LEASE_SECONDS).await {
                Ok(true) => {}
                Ok(false) => return Page::Stop,
                Err(err) => return stop(&err, stream, "taking a stream's lease failed"),
            }
            // Read under the lease: the cursor where the previous holder left it.
            *stream = match store.stream(stream.id).await {
                Ok(Some(fresh)) if !fresh.paused && fresh.next_attempt_at <= self.now_ms() => fresh,
                Ok(_) => return Page::Stop,
                Err(err) => return stop(&err, stream, "reading a stream failed"),
            };
        }
        let page = match store.stream_records(stream.cursor, BATCH).await {
            Ok(page) if page.is_empty() => return Page::Stop,
            Ok(page) => page,
            Err(err) => return stop(&err, stream, "reading the audit log failed"),
        };
        let full = page.len() == BATCH as usize;
        let last = page.last().map_or(stream.cursor, |r| r.cursor);
        let records = stream.filter.select(page);
        let count = records.len() as u64;
        let delivered_at = if records.is_empty() {
            None
        } else {
            if let Err(error) = self.send(stream, records).await {
                self.delivery_failed(stream, &error).await;
                return Page::Stop;
            }
            Some(self.now())
        };
        match store.advance_stream(stream.id, &self.node, last, delivered_at).await {
            Ok(true) => telemetry::stream_delivered(&stream.name, count),
            Ok(false) => {
                tracing::info!(stream = %stream.name, "another node took the stream over");
                return Page::Stop;
            }
            Err(err) => return stop(&err, stream, "moving a stream's cursor failed"),
        }
        stream.cursor = last;
        if full {
            Page::Full
        } else {
            Page::Stop
        }
    }

    /// Counts a failure and sets the backoff; the cursor stays.
    async fn delivery_failed(&self, stream: &AuditStream, error: &str) {
        let failures = stream.failures.saturating_add(1);
        let retry_at = self.now_ms() + backoff(failures, jitter());
        tracing::warn!(stream = %stream.name, failures, error, "an audit stream's delivery failed; retrying later");
        telemetry::stream_failed(&stream.name);
        if let Err(err) = self.store.fresh().stream_failed(stream.id, &self.node, error, retry_at).await {
            tracing::warn!(%err, stream = %stream.name, "recording a stream's failure failed");
        }
    }

    /// Delivers `records` (in order) to the stream's receiver.
    async fn send(&self, stream: &AuditStream, records: Vec<AuditRecord>) -> Result<(), String> {
        match stream.kind {
            StreamKind::Jsonl => {
                let mut lines = String::new();
                Format::JsonLines.render(&records, &mut lines).map_err(|err| err.to_string())?;
                let path = stream.path.clone().ok_or("the stream has no path")?;
                let written = tokio::task::spawn_blocking(move || {
                    append_lines(std::path::Path::new(&path), lines.as_bytes(), ROTATE_BYTES)
                })
                .await
                .map_err(|err| err.to_string())?;
                written.map_err(|err| format!("cannot append to the file: {err}"))
            }
            StreamKind::Webhook => {
                let id = records.first().map(|first| batch_id(stream.id, first)).ok_or("an empty batch")?;
                let body = export::json_array(records).map_err(|err| err.to_string())?;
                self.send_webhook(stream, id, body).await
            }
        }
    }
}

impl Services {
    /// A new webhook signing secret (`whsec_` and 32 random bytes in base64), sealed into
    /// `stream`; returned to be shown once.
    fn new_stream_secret(&self, stream: &mut AuditStream) -> ApiResult<String> {
        let secret = PROFILE.new_secret(&random_bytes::<32>());
        stream.secret_sealed = Some(self.sealer.seal(&secret, &stream_context(stream))?);
        Ok(secret)
    }

    /// POSTs `body` (a batch's JSON array) signed with the stream's secret; the `webhook-id` is
    /// the batch's `id`, the same on every retry and node.
    async fn send_webhook(&self, stream: &AuditStream, id: String, body: Vec<u8>) -> Result<(), String> {
        let (Some(url), Some(sealed)) = (stream.url.as_deref(), stream.secret_sealed.as_deref()) else {
            return Err("the stream has no url or secret".into());
        };
        let secret = self
            .sealer
            .unseal(sealed, &stream_context(stream))
            .map_err(|_| "cannot open the stream's secret (was the master key changed?)".to_owned())?;
        let timestamp = self.now().to_string();
        let signature = PROFILE.sign(&[&secret], &id, &timestamp, &body).map_err(|err| err.to_string())?;
        let names = PROFILE.headers();
        let mut headers = vec![(names.timestamp[0], timestamp), (names.signature[0], signature)];
        if let Some(id_header) = names.id {
            headers.push((id_header, id));
        }
        post_batch(&self.http, url, headers, body).await
    }
}
