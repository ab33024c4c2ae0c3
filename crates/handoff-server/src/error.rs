//! The server's one error type and its mapping to HTTP.
//!
//! Handlers return `ApiError`; it becomes a status plus a `ProblemResponse` extension, and the
//! `finish` middleware (see `web.rs`) renders every problem the same way — JSON envelope or HTML
//! page — with the request id, the public `type` URI and an audit record.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use handoff_core::problem::ProblemKind;
use handoff_core::store::StoreError;
use handoff_core::Problem;

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Problem,
    /// Seconds for `Retry-After` (429 only).
    pub retry_after: Option<u64>,
    /// Set when the refusal needs no audit record from the renderer: the handler wrote it, or
    /// the request named no one ([`ApiError::unaudited`]).
    pub audited: bool,
}

impl ApiError {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self { problem: Problem::new(kind, detail), retry_after: None, audited: false }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::InvalidRequest, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, detail)
    }

    /// This refusal is not audited: the request named no credential and nothing that exists (no
    /// credential headers at all, an unknown integration), like a routing miss. Auditing it
    /// would let any client grow the database at will; `/metrics` counts it.
    pub fn unaudited(mut self) -> Self {
        self.audited = true;
        self
    }

    pub fn internal() -> Self {
        Self::new(ProblemKind::Internal, "An internal error occurred; quote the request id to support.")
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        Self { problem, retry_after: None, audited: false }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => Self::new(ProblemKind::Conflict, what),
            StoreError::Backend(cause) => {
                tracing::error!(%cause, "store failure");
                Self::internal()
            }
        }
    }
}

/// The problem carried from a handler to the renderer.
#[derive(Debug, Clone)]
pub struct ProblemResponse {
    pub problem: Problem,
    pub retry_after: Option<u64>,
    pub audited: bool,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.problem.kind.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = status.into_response();
        response.extensions_mut().insert(ProblemResponse {
            problem: self.problem,
            retry_after: self.retry_after,
            audited: self.audited,
        });
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
