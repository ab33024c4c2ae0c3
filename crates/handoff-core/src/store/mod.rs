//! The store seam: one narrow trait per aggregate, implemented once per backend.
//!
//! Call sites depend on these traits only; there is never a backend branch outside
//! `handoff-store`. Every method is a single atomic unit of work.

pub mod journal;

use async_trait::async_trait;

use crate::ids::{
    IntegrationId, OperatorSessionId, OrganizationId, PartnerId, SessionId, StreamId, SupplierId, UserId,
};
use crate::model::{
    AuditEvent, AuditFilter, AuditRange, AuditRecord, InboundIntegration, OperatorSession, Organization, Outcome,
    PageRequest, Partner, SealedSecrets, Session, StatusSetter, Supplier, User, UserStatus,
};
use crate::secret::{Credential, SecretDigest};
use crate::stream::{AuditStream, Cursor, StreamRecord};
use crate::token::KeyKind;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated; the text names which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached: refused or lost connections, no connection free within
    /// the acquire timeout, a server shutting down or starting up. Passing: the same request
    /// may succeed once it is back. The text is for the log, never for a response.
    #[error("database unreachable: {0}")]
    Unavailable(String),
    /// The database failed; the text is for the log, never for a response.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Organizations: Send + Sync {
    async fn create_organization(&self, organization: &Organization) -> StoreResult<()>;
    async fn organization(&self, id: OrganizationId) -> StoreResult<Option<Organization>>;
    async fn organization_by_number(&self, org_number: &str) -> StoreResult<Option<Organization>>;
    async fn organizations(&self, page: &PageRequest) -> StoreResult<Vec<Organization>>;
    /// Replaces the credential if its current secret is still `expected` (compare and swap: of
    /// two rotations racing, one wins and the other gets `false`).
    async fn set_organization_credential(
        &self,
        id: OrganizationId,
        expected: &SecretDigest,
        credential: &Credential,
    ) -> StoreResult<bool>;
    /// Deletes the organization with its users, links and sessions.
    async fn delete_organization(&self, id: OrganizationId) -> StoreResult<bool>;
}

#[async_trait]
pub trait Partners: Send + Sync {
    async fn create_partner(&self, partner: &Partner) -> StoreResult<()>;
    async fn partner(&self, id: PartnerId) -> StoreResult<Option<Partner>>;
    async fn partners(&self, page: &PageRequest) -> StoreResult<Vec<Partner>>;
    /// Like [`Organizations::set_organization_credential`].
    async fn set_partner_credential(
        &self,
        id: PartnerId,
        expected: &SecretDigest,
        credential: &Credential,
    ) -> StoreResult<bool>;
    /// Deletes the partner with its links and the sessions it opened.
    async fn delete_partner(&self, id: PartnerId) -> StoreResult<bool>;
    /// Idempotent.
    async fn link(&self, partner: PartnerId, organization: OrganizationId, now: i64) -> StoreResult<()>;
    /// Removes the link and, in the same transaction, ends the sessions the partner opened in
    /// the organization (as deleting the partner ends all of its sessions).
    async fn unlink(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool>;
    async fn is_linked(&self, partner: PartnerId, organization: OrganizationId) -> StoreResult<bool>;
    async fn linked_organizations(&self, partner: PartnerId) -> StoreResult<Vec<Organization>>;
    /// The partners linked to the organization, by id.
    async fn partners_linked_to(&self, organization: OrganizationId) -> StoreResult<Vec<Partner>>;
}

/// What [`Users::set_user_status`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Set,
    /// No such user.
    NotFound,
    /// A partner asked, and the operator disabled the user: nothing was written.
    OperatorDisabled,
}

#[async_trait]
pub trait Users: Send + Sync {
    /// Fails with `Conflict` when the email is taken within the organization.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn user_by_email(&self, organization: OrganizationId, email: &str) -> StoreResult<Option<User>>;
    /// The organization's users ordered by id, optionally only the one with `email`.
    async fn users(
        &self,
        organization: OrganizationId,
        email: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Vec<User>>;
    /// Sets the status as `by`; disabling also ends the user's sessions, in the same transaction.
    /// A partner's change never touches a user the operator disabled (checked in the same
    /// statement, so a concurrent disable cannot be overtaken).
    async fn set_user_status(&self, id: UserId, status: UserStatus, by: StatusSetter) -> StoreResult<StatusChange>;
    async fn delete_user(&self, id: UserId) -> StoreResult<bool>;
}

#[async_trait]
pub trait Sessions: Send + Sync {
    async fn session(&self, id: SessionId) -> StoreResult<Option<Session>>;
    async fn touch_session(&self, id: SessionId, now: i64) -> StoreResult<()>;
    async fn delete_session(&self, id: SessionId) -> StoreResult<bool>;
    /// Ends every session of `user`; returns how many there were.
    async fn delete_user_sessions(&self, user: UserId) -> StoreResult<u64>;
    /// Removes expired sessions, and consumed-token and webhook-event records past their expiry.
    async fn purge_expired(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64>;
}

/// The web console's operator sessions (opened with the admin token).
#[async_trait]
pub trait OperatorSessions: Send + Sync {
    async fn create_operator_session(&self, session: &OperatorSession) -> StoreResult<()>;
    async fn operator_session(&self, id: OperatorSessionId) -> StoreResult<Option<OperatorSession>>;
    async fn touch_operator_session(&self, id: OperatorSessionId, now: i64) -> StoreResult<()>;
    async fn delete_operator_session(&self, id: OperatorSessionId) -> StoreResult<bool>;
    /// Removes the sessions past their absolute expiry (`expires_at <= now`) or idle since
    /// `idle_cutoff`; returns how many.
    async fn purge_operator_sessions(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64>;
}

/// What one batch of [`Audit::prune_audit`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pruned {
    /// This many records were deleted (fewer than the batch: none older are left).
    Removed(u64),
    /// Another node holds the prune lock (PostgreSQL): nothing was deleted, that node prunes.
    Busy,
}

#[async_trait]
pub trait Audit: Send + Sync {
    /// Newest first.
    async fn audit(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditRecord>>;
    /// One page of an export, oldest first (see [`AuditRange`]); read through an index on `at`,
    /// so a page costs its rows wherever the range lies.
    async fn audit_range(&self, range: &AuditRange) -> StoreResult<Vec<AuditRecord>>;
    /// The `at` of the oldest record, if there is one.
    async fn oldest_audit(&self) -> StoreResult<Option<i64>>;
    /// Deletes at most `limit` of the records with `at < before`, oldest first, in one short
    /// transaction. On PostgreSQL only while holding the prune lock (a transaction-level advisory
    /// lock, so it works behind a transaction-pooling PgBouncer): when another node holds it,
    /// [`Pruned::Busy`]. Touches no other table: the hourly rollup keeps counting what happened.
    async fn prune_audit(&self, before: i64, limit: u32) -> StoreResult<Pruned>;
}

/// One row of the audit rollup: how many audit records of one kind, outcome and reason were
/// written in one hour (or, summed, in one span of hours).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AuditCount {
    /// The Unix time of the hour's start ([`journal::hour_of`] of the records' `at`), or of the
    /// span's.
    pub hour: i64,
    pub kind: String,
    pub outcome: Option<Outcome>,
    pub reason: String,
    pub count: u64,
}

/// What the overview counts, read without scanning the audit log: the journal keeps the rollup
/// in the same transaction as the records it counts.
#[async_trait]
pub trait Stats: Send + Sync {
    /// The rollup rows of the hours starting in `since..until`, summed per span of `width`
    /// seconds (a multiple of an hour, the spans aligned to the Unix epoch; each row's `hour` is
    /// its span's start), in key order. The sum is the database's: what it hands over grows with
    /// the spans, not the hours.
    async fn audit_counts(&self, since: i64, until: i64, width: i64) -> StoreResult<Vec<AuditCount>>;
    /// How many portal sessions are live at `now`: not expired, and seen after `idle_cutoff`
    /// (the rule `purge_expired` removes the others by).
    async fn active_sessions(&self, now: i64, idle_cutoff: i64) -> StoreResult<u64>;
}

/// A key as stored: the secret half sealed with the master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub kind: KeyKind,
    pub sealed_secret: Vec<u8>,
    pub public: Vec<u8>,
    pub created_at: i64,
}

#[async_trait]
pub trait Keys: Send + Sync {
    async fn keys(&self) -> StoreResult<Vec<StoredKey>>;
    async fn insert_key(&self, key: &StoredKey) -> StoreResult<()>;
}

#[async_trait]
pub trait Inbound: Send + Sync {
    /// Fails with `Conflict` when the slug is taken.
    async fn create_integration(&self, integration: &InboundIntegration) -> StoreResult<()>;
    async fn integration(&self, id: IntegrationId) -> StoreResult<Option<InboundIntegration>>;
    async fn integration_by_slug(&self, slug: &str) -> StoreResult<Option<InboundIntegration>>;
    async fn integrations(&self, page: &PageRequest) -> StoreResult<Vec<InboundIntegration>>;
    /// Replaces the secrets if the current sealed secret is still `expected` (compare and swap).
    async fn set_integration_secrets(
        &self,
        id: IntegrationId,
        expected: &[u8],
        secrets: &SealedSecrets,
    ) -> StoreResult<bool>;
    async fn delete_integration(&self, id: IntegrationId) -> StoreResult<bool>;
    /// Lets the integration sign in users of the organization. Idempotent.
    async fn link_integration(
        &self,
        integration: IntegrationId,
        organization: OrganizationId,
        now: i64,
    ) -> StoreResult<()>;
    async fn unlink_integration(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool>;
    async fn integration_serves(&self, integration: IntegrationId, organization: OrganizationId) -> StoreResult<bool>;
    async fn integration_organizations(&self, integration: IntegrationId) -> StoreResult<Vec<Organization>>;
}

#[async_trait]
pub trait Suppliers: Send + Sync {
    /// Fails with `Conflict` when the slug is taken.
    async fn create_supplier(&self, supplier: &Supplier) -> StoreResult<()>;
    async fn supplier(&self, id: SupplierId) -> StoreResult<Option<Supplier>>;
    async fn supplier_by_slug(&self, slug: &str) -> StoreResult<Option<Supplier>>;
    async fn suppliers(&self, page: &PageRequest) -> StoreResult<Vec<Supplier>>;
    /// Like [`Inbound::set_integration_secrets`].
    async fn set_supplier_secrets(&self, id: SupplierId, expected: &[u8], secrets: &SealedSecrets)
        -> StoreResult<bool>;
    async fn delete_supplier(&self, id: SupplierId) -> StoreResult<bool>;
}

/// How far a stream is behind the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamLag {
    /// Records after the cursor (before filtering).
    pub records: u64,
    /// The `at` of the oldest of them.
    pub oldest_at: Option<i64>,
}

/// Audit streams and their cursors over the audit log. A cursor only moves over records no
/// transaction can still add to (see [`Streams::stream_records`]), and only under the lease of
/// the node that delivered them.
#[async_trait]
pub trait Streams: Send + Sync {
    /// Stores `stream` with its cursor at the head of the log, in the same statement: the stream
    /// delivers the records committed after it (a record whose transaction is still running at
    /// that moment may be among them). `stream.cursor` is ignored. Fails with `Conflict` when
    /// the name is taken.
    async fn create_stream(&self, stream: &AuditStream) -> StoreResult<()>;
    async fn stream(&self, id: StreamId) -> StoreResult<Option<AuditStream>>;
    /// Every stream, by name.
    async fn streams(&self) -> StoreResult<Vec<AuditStream>>;
    async fn delete_stream(&self, id: StreamId) -> StoreResult<bool>;
    /// Pauses or resumes; resuming clears the failures (the next attempt is at once).
    async fn set_stream_paused(&self, id: StreamId, paused: bool) -> StoreResult<bool>;
    /// Takes or renews the lease for `owner` until `until` if it is free, expired at `now`, or
    /// `owner`'s already. `false`: another node delivers the stream.
    async fn lease_stream(&self, id: StreamId, owner: &str, now: i64, until: i64) -> StoreResult<bool>;
    /// Gives the lease up (a node shutting down), if `owner` holds it.
    async fn release_stream(&self, id: StreamId, owner: &str) -> StoreResult<()>;
    /// At most `limit` records after `after`, in commit order, all of them final: on PostgreSQL
    /// only records of transactions older than every running one (below the snapshot's
    /// `xmin`), so no record can later commit behind a cursor moved past these.
    async fn stream_records(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>>;
    /// Moves the cursor to `to` after a delivery (clearing failures), if `owner` still holds the
    /// lease (fenced: a node that lost it moves nothing). `delivered_at`: when something was
    /// delivered (`None` when the page held nothing the stream carries).
    async fn advance_stream(
        &self,
        id: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool>;
    /// Counts a failed delivery and sets when to try again (Unix ms), if `owner` holds the lease.
    async fn stream_failed(&self, id: StreamId, owner: &str, error: &str, next_attempt_at: i64) -> StoreResult<bool>;
    /// How many records are after `cursor`.
    async fn stream_lag(&self, cursor: Cursor) -> StoreResult<StreamLag>;
}

/// A write that can share one transaction with others (group commit).
#[derive(Debug, Clone)]
pub enum Write {
    /// Appends an audit record. Always succeeds (`true`).
    Audit(AuditEvent),
    /// Consumes the SSO token `jti` — exactly once, ever, across nodes — and only then opens
    /// `session` and appends `audit`. `false` (and nothing written) when `jti` was consumed.
    Redeem { jti: String, token_expires_at: i64, session: Session, audit: AuditEvent },
    /// Records an inbound event's ids (its `eventId`, and a Standard Webhooks `webhook-id`)
    /// until `expires_at` — the first time, ever, across nodes — and only then appends `audit`.
    /// `false` (and no audit written) when any of them is recorded already.
    RememberEvent { integration: IntegrationId, event_ids: Vec<String>, expires_at: i64, audit: AuditEvent },
}

impl Write {
    /// The audit record this write appends (when it wins).
    pub fn audit(&self) -> &AuditEvent {
        match self {
            Write::Audit(audit) | Write::Redeem { audit, .. } | Write::RememberEvent { audit, .. } => audit,
        }
    }

    /// The audit record this write appends, to change before it is committed.
    pub fn audit_mut(&mut self) -> &mut AuditEvent {
        match self {
            Write::Audit(audit) | Write::Redeem { audit, .. } | Write::RememberEvent { audit, .. } => audit,
        }
    }
}

/// Durable writes, committed in batches: one transaction (one fsync) for many requests.
#[async_trait]
pub trait Journal: Send + Sync {
    /// Applies `writes` in one transaction; one result per write. On an error nothing is
    /// committed. Who wins is [`journal::settle`]'s rule over the database's answers.
    async fn commit(&self, writes: Vec<Write>) -> StoreResult<Vec<bool>>;
    /// [`Streams::stream_records`]: what the journal committed, read back in commit order. Here
    /// because it is every stream's hot path and each engine reads its database its own way.
    async fn records_after(&self, after: Cursor, limit: u32) -> StoreResult<Vec<StreamRecord>>;
    /// [`Streams::advance_stream`]: a write as frequent as a stream's pages, so it goes where the
    /// journal's writes go (on SQLite, a second writer would wait for the file's lock, and make
    /// every commit behind it wait).
    async fn move_cursor(
        &self,
        stream: StreamId,
        owner: &str,
        to: Cursor,
        delivered_at: Option<i64>,
    ) -> StoreResult<bool>;
}

/// Failed-authentication counters in fixed windows, shared by every node.
#[async_trait]
pub trait Throttle: Send + Sync {
    /// Counts a failure for `key` in the window that contains `now` (a window of
    /// `window_seconds` starts at the first failure after the previous one ended); returns the
    /// window's start and its count so far.
    async fn record_failure(&self, key: &str, now: i64, window_seconds: i64) -> StoreResult<(i64, i64)>;
    /// The current window of `key`, if any: (start, count).
    async fn failures(&self, key: &str) -> StoreResult<Option<(i64, i64)>>;
}

/// Everything a backend provides.
#[async_trait]
pub trait Store:
    Organizations
    + Partners
    + Users
    + Sessions
    + OperatorSessions
    + Audit
    + Stats
    + Keys
    + Inbound
    + Suppliers
    + Streams
    + Throttle
    + Journal
    + Send
    + Sync
    + 'static
{
    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool right now: (open connections, idle ones).
    fn connections(&self) -> (u32, u32);
}
