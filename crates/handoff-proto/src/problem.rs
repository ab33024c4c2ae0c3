//! Problem types: the stable error identities integrators match on (the `type` slug), each with
//! its HTTP status and title. Messages may change; slugs never do.

use std::fmt;

/// Every kind of error handoff reports over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// 400: missing headers, malformed JSON, a bad field.
    InvalidRequest,
    /// 401: unknown or wrong credentials, or no session.
    AuthenticationRequired,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: the resource does not exist (in the caller's scope).
    NotFound,
    /// 405: the path exists, but not with this method.
    MethodNotAllowed,
    /// 408: the request took longer than the server allows.
    RequestTimeout,
    /// 409: the resource already exists.
    Conflict,
    /// 413: the body is over the limit.
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 429: too many failed attempts; see `Retry-After`.
    RateLimited,
    /// 400: a sign-in link that is malformed, tampered with or signed by no key of ours.
    InvalidToken,
    /// 410: a sign-in link past its expiry.
    ExpiredToken,
    /// 409: a sign-in link that was already redeemed.
    TokenAlreadyUsed,
    /// 502: the application or supplier behind handoff failed or answered wrongly.
    BadGateway,
    /// 504: the application or supplier behind handoff did not answer in time.
    GatewayTimeout,
    /// 503: a dependency (the database) is unreachable.
    ServiceUnavailable,
    /// 500: a fault of ours; details are in the log under the request id.
    Internal,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 17] = [
        ProblemKind::InvalidRequest,
        ProblemKind::AuthenticationRequired,
        ProblemKind::Forbidden,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::RequestTimeout,
        ProblemKind::Conflict,
        ProblemKind::PayloadTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::RateLimited,
        ProblemKind::InvalidToken,
        ProblemKind::ExpiredToken,
        ProblemKind::TokenAlreadyUsed,
        ProblemKind::BadGateway,
        ProblemKind::GatewayTimeout,
        ProblemKind::ServiceUnavailable,
        ProblemKind::Internal,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::InvalidRequest => "invalid-request",
            ProblemKind::AuthenticationRequired => "authentication-required",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::RequestTimeout => "request-timeout",
            ProblemKind::Conflict => "conflict",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::RateLimited => "rate-limited",
            ProblemKind::InvalidToken => "invalid-token",
            ProblemKind::ExpiredToken => "expired-token",
            ProblemKind::TokenAlreadyUsed => "token-already-used",
            ProblemKind::BadGateway => "bad-gateway",
            ProblemKind::GatewayTimeout => "gateway-timeout",
            ProblemKind::ServiceUnavailable => "service-unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.slug() == slug)
    }

    pub fn status(self) -> u16 {
        match self {
            ProblemKind::InvalidRequest | ProblemKind::InvalidToken => 400,
            ProblemKind::AuthenticationRequired => 401,
            ProblemKind::Forbidden => 403,
            ProblemKind::NotFound => 404,
            ProblemKind::MethodNotAllowed => 405,
            ProblemKind::RequestTimeout => 408,
            ProblemKind::Conflict | ProblemKind::TokenAlreadyUsed => 409,
            ProblemKind::ExpiredToken => 410,
            ProblemKind::PayloadTooLarge => 413,
            ProblemKind::UnsupportedMediaType => 415,
            ProblemKind::RateLimited => 429,
            ProblemKind::Internal => 500,
            ProblemKind::BadGateway => 502,
            ProblemKind::GatewayTimeout => 504,
            ProblemKind::ServiceUnavailable => 503,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::InvalidRequest => "Invalid request",
            ProblemKind::AuthenticationRequired => "Unauthorized",
            ProblemKind::Forbidden => "Forbidden",
            ProblemKind::NotFound => "Not found",
            ProblemKind::MethodNotAllowed => "Method not allowed",
            ProblemKind::RequestTimeout => "Request timeout",
            ProblemKind::Conflict => "Conflict",
            ProblemKind::PayloadTooLarge => "Payload too large",
            ProblemKind::UnsupportedMediaType => "Unsupported media type",
            ProblemKind::RateLimited => "Too many requests",
            ProblemKind::InvalidToken => "Invalid sign-in link",
            ProblemKind::ExpiredToken => "Sign-in link expired",
            ProblemKind::TokenAlreadyUsed => "Sign-in link already used",
            ProblemKind::BadGateway => "Bad gateway",
            ProblemKind::GatewayTimeout => "Gateway timeout",
            ProblemKind::ServiceUnavailable => "Service unavailable",
            ProblemKind::Internal => "Internal error",
        }
    }
}

/// A problem to report: its kind and a human `detail` safe to show the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl std::error::Error for Problem {}
