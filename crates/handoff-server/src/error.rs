//! The server's one error type. Services and handlers return `ApiError`; `http::respond` turns it
//! into a status plus a problem the `finish` middleware renders the same way everywhere — JSON
//! envelope, HTML page or seed 002's webhook shape — with the request id, the public `type` URI
//! and an audit record.

use handoff_core::problem::ProblemKind;
use handoff_core::store::StoreError;
use handoff_core::Problem;

/// Seconds a client is told to wait (`Retry-After`) while the database is unreachable: about
/// as long as a PostgreSQL restart or a managed failover's first seconds.
pub const UNAVAILABLE_RETRY_AFTER: u64 = 2;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Problem,
    /// Seconds for `Retry-After` (429, and 503 while the database is unreachable).
    pub retry_after: Option<u64>,
    /// Set when the refusal needs no audit record from the renderer: a service wrote it, or
    /// the request named no one ([`ApiError::unaudited`]).
    pub audited: bool,
    /// The audit reason, where the problem slug alone would not tell this refusal from others of
    /// its kind (`organization-not-linked`).
    pub reason: Option<&'static str>,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self { problem: Problem::new(kind, detail), retry_after: None, audited: false, reason: None }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Forbidden, detail)
    }

    /// 403 for a user the operator or a partner disabled, audited as `user-disabled` so the log
    /// and the overview tell it from the other refusals.
    pub fn user_disabled() -> Self {
        Self::forbidden("The user is disabled.").because("user-disabled")
    }

    /// This refusal is not audited: the request named no credential and nothing that exists (no
    /// credential headers at all, an unknown integration), like a routing miss. Auditing it
    /// would let any client grow the database at will; `/metrics` counts it.
    pub fn unaudited(mut self) -> Self {
        self.audited = true;
        self
    }

    /// This refusal is audited with `reason` instead of its problem's slug.
    pub fn because(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The reason its audit record gives.
    pub fn audit_reason(&self) -> &str {
        self.reason.unwrap_or(self.problem.kind.slug())
    }

    /// 503 while the database cannot be reached, with `Retry-After`. Never audited: the audit
    /// log is in that database (the log line and `/metrics`' request count say it happened).
    pub fn unavailable() -> Self {
        let error = Self::new(ProblemKind::ServiceUnavailable, "The database is not reachable; try again shortly.");
        Self { retry_after: Some(UNAVAILABLE_RETRY_AFTER), ..error.unaudited() }
    }

    pub fn internal() -> Self {
        Self::new(ProblemKind::Internal, "An internal error occurred; quote the request id to support.")
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self { problem, retry_after: None, audited: false, reason: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::new(ProblemKind::Conflict, what),
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "the database is unreachable; answering 503");
                Self::unavailable()
            }
            StoreError::Backend(cause) => {
                tracing::error!(%cause, "store failure");
                Self::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
