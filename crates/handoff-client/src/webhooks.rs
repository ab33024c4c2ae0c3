//! Verifying the webhooks handoff sends (a supplier receiving launches) or that a portal sends
//! to handoff, with handoff's own implementation of every signature profile (`handoff-webhook`):
//! constant-time, full-length comparison, the tolerance a parameter, and an error naming the
//! check that failed.
//!
//! ```
//! use handoff_client::webhooks::{SignatureProfile, Verifier, VerifyError};
//!
//! // The Standard Webhooks specification's example.
//! let verifier = Verifier::new(SignatureProfile::StandardWebhooks, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], 15)?;
//! let headers = [
//!     ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
//!     ("webhook-timestamp", "1614265330"),
//!     ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
//! ];
//! let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
//! let body = br#"{"test": 2432232314}"#;
//! assert!(verifier.verify_at(header, body, 1_614_265_330).is_ok());
//! let tampered = br#"{"test": 2432232315}"#;
//! assert_eq!(verifier.verify_at(header, tampered, 1_614_265_330), Err(VerifyError::Mismatch));
//! assert_eq!(verifier.verify_at(header, body, 1_614_265_346).unwrap_err().reason(), "timestamp-outside-tolerance");
//! # Ok::<(), handoff_client::webhooks::SecretError>(())
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use handoff_webhook::Request;
pub use handoff_webhook::{SecretError, SignatureProfile, VerifyError};

/// The secrets of one sender and how it signs; verifies requests as received.
#[derive(Debug, Clone)]
pub struct Verifier {
    profile: SignatureProfile,
    secrets: Vec<String>,
    tolerance: i64,
}

impl Verifier {
    /// A verifier for `profile` holding `secrets` (both during a rotation), accepting
    /// timestamps up to `tolerance` seconds from the clock either way (handoff uses 15). A
    /// `standard-webhooks` secret must be `whsec_<base64>` of 24 to 64 bytes.
    pub fn new<S: Into<String>>(
        profile: SignatureProfile,
        secrets: impl IntoIterator<Item = S>,
        tolerance: i64,
    ) -> Result<Self, SecretError> {
        let secrets: Vec<String> = secrets.into_iter().map(Into::into).collect();
        if secrets.is_empty() {
            return Err(SecretError::None);
        }
        for secret in &secrets {
            profile.key(secret)?;
        }
        Ok(Self { profile, secrets, tolerance })
    }

    pub fn profile(&self) -> SignatureProfile {
        self.profile
    }

    /// Verifies a request against the system clock: `header` answers a lower-case header name
    /// with its value, `body` is the raw body as received. Answers the timestamp (Unix seconds).
    pub fn verify<'a>(&self, header: impl Fn(&str) -> Option<&'a str>, body: &'a [u8]) -> Result<i64, VerifyError> {
        #[allow(clippy::disallowed_methods)] // the SDK's one clock read; `verify_at` takes the time
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.verify_at(header, body, now)
    }

    /// [`Self::verify`] at `now` (Unix seconds).
    pub fn verify_at<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &'a [u8],
        now: i64,
    ) -> Result<i64, VerifyError> {
        let request = Request::from_headers(self.profile, header, body);
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        Ok(self.profile.verify(&secrets, &request, now, self.tolerance)?.timestamp)
    }
}

#[cfg(feature = "axum")]
pub mod axum {
    //! An axum extractor for a signed webhook (feature `axum`): [`SignedEvent<T>`] reads the raw body (at most [`BODY_LIMIT`] bytes), verifies it with
    //! the router state's [`Verifier`] (through `FromRef`) and deserialises it. A refusal is
    //! seed 002's `{"error": "<sentence>"}`: `401` naming the failed check, `400` for a body that
    //! is not the expected JSON, `413` for one over the limit.
    //!
    //! ```
    //! use axum::{routing::post, Json, Router};
    //! use handoff_client::webhooks::axum::SignedEvent;
    //! use handoff_client::webhooks::{SignatureProfile, Verifier};
    //! use handoff_client::wire::{SsoEvent, WebhookRedirect};
    //!
    //! async fn launch(SignedEvent(event): SignedEvent<SsoEvent>) -> Json<WebhookRedirect> {
    //!     let redirect_url = format!("https://app.supplier.example/sso?user={}", event.data.email);
    //!     Json(WebhookRedirect { redirect_url })
    //! }
    //!
    //! let verifier = Verifier::new(SignatureProfile::StandardWebhooks, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"], 15)?;
    //! let app: Router = Router::new().route("/handoff/launch", post(launch)).with_state(verifier);
    //! # Ok::<(), handoff_client::webhooks::SecretError>(())
    //! ```

    use axum::extract::{FromRef, FromRequest, Request};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::Json;
    use serde::de::DeserializeOwned;

    use super::{Verifier, VerifyError};

    /// The largest body read, as handoff's own limit.
    pub const BODY_LIMIT: usize = 64 * 1024;

    /// A webhook body of type `T` whose signature passed the state's [`Verifier`].
    #[derive(Debug, Clone)]
    pub struct SignedEvent<T>(pub T);

    /// Why a [`SignedEvent`] was refused.
    #[derive(Debug)]
    pub enum Rejection {
        /// `413`: the body is over [`BODY_LIMIT`] or could not be read.
        Body,
        /// `401`: a check of the signed request failed.
        Verify(VerifyError),
        /// `400`: the verified body is not the expected JSON.
        Json(serde_json::Error),
    }

    impl IntoResponse for Rejection {
        fn into_response(self) -> Response {
            let (status, error) = match self {
                Rejection::Body => (StatusCode::PAYLOAD_TOO_LARGE, "The body is over 64 KiB or broke off.".to_owned()),
                Rejection::Verify(error) => (StatusCode::UNAUTHORIZED, error.to_string()),
                Rejection::Json(error) => (StatusCode::BAD_REQUEST, format!("Malformed event: {error}")),
            };
            (status, Json(serde_json::json!({ "error": error }))).into_response()
        }
    }

    impl<S, T> FromRequest<S> for SignedEvent<T>
    where
        S: Send + Sync,
        Verifier: FromRef<S>,
        T: DeserializeOwned,
    {
        type Rejection = Rejection;

        async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
            let verifier = Verifier::from_ref(state);
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| Rejection::Body)?;
            let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
            verifier.verify(header, &body).map_err(Rejection::Verify)?;
            serde_json::from_slice(&body).map(SignedEvent).map_err(Rejection::Json)
        }
    }
}
