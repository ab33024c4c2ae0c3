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
