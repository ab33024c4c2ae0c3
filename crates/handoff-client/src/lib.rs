//! Rust SDK for handoff: mint SSO links as a partner, manage users, call the admin API, and
//! verify the webhooks handoff sends ([`webhooks::Verifier`]).
//! Speaks HTTPS with rustls and the operating system's trust store.
//!
//! The request and answer types are `handoff_proto::wire`, the very types the server uses, so the
//! SDK cannot drift from the server. Errors carry the HTTP status and the problem body.

use handoff_proto::wire::{
    CreateUser, Envelope, ErrorEnvelope, Page, ProblemBody, SsoLink, SsoRequest, UpdateUser, UserView,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use handoff_proto::wire;

pub mod webhooks;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{status}: {} ({})", problem.detail, problem.type_uri)]
    Problem { status: StatusCode, problem: ProblemBody },
    #[error("unexpected answer {status}: {body}")]
    Unexpected { status: StatusCode, body: String },
}

impl ClientError {
    /// The problem `type` slug, when the server answered with a problem.
    pub fn slug(&self) -> Option<&str> {
        match self {
            ClientError::Problem { problem, .. } => problem.type_uri.rsplit('/').next(),
            _ => None,
        }
    }
}

/// A partner's and an organization's credentials, as issued by the admin API.
#[derive(Debug, Clone)]
pub struct PartnerCredentials {
    pub partner_id: String,
    pub partner_secret: String,
    pub organization_id: String,
    pub organization_secret: String,
}

#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    admin_token: Option<String>,
}

impl Client {
    /// A client for the handoff at `base_url` (e.g. `https://portal.example.com`).
    pub fn new(base_url: &str) -> Self {
        Self { http: reqwest::Client::new(), base: base_url.trim_end_matches('/').to_owned(), admin_token: None }
    }

    pub fn with_admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Sends every request with `http`: for a handoff whose certificate a private authority
    /// signed (`add_root_certificate`), or with timeouts or a proxy of your own.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// A partner API request carrying the four credential headers.
    fn partner(&self, method: Method, path: &str, credentials: &PartnerCredentials) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("x-partner-id", &credentials.partner_id)
            .header("x-partner-secret", &credentials.partner_secret)
            .header("x-organization-id", &credentials.organization_id)
            .header("x-organization-secret", &credentials.organization_secret)
    }

    /// `POST /v1/sso`: a one-time link signing `user_id` in and landing on `redirect_path`.
    pub async fn mint_sso_link(
        &self,
        credentials: &PartnerCredentials,
        user_id: &str,
        redirect_path: Option<&str>,
    ) -> Result<SsoLink, ClientError> {
        let request = self
            .partner(Method::POST, "/v1/sso", credentials)
            .header("x-user-id", user_id)
            .json(&SsoRequest { redirect_path: redirect_path.map(str::to_owned) });
        let envelope: Envelope<SsoLink> = answer(request.send().await?).await?;
        Ok(envelope.data)
    }

    fn users_path(credentials: &PartnerCredentials, rest: &str) -> String {
        format!("/v1/organizations/{}/users{rest}", credentials.organization_id)
    }

    /// Creates a user in the credentials' organization.
    pub async fn create_user(
        &self,
        credentials: &PartnerCredentials,
        user: &CreateUser,
    ) -> Result<UserView, ClientError> {
        let request = self.partner(Method::POST, &Self::users_path(credentials, ""), credentials).json(user);
        Ok(answer::<Envelope<UserView>>(request.send().await?).await?.data)
    }

    /// One page of the organization's users, optionally only the one with `email`.
    pub async fn users(
        &self,
        credentials: &PartnerCredentials,
        email: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<UserView>, ClientError> {
        let query: Vec<(&str, &str)> =
            [("email", email), ("cursor", cursor)].into_iter().filter_map(|(k, v)| v.map(|v| (k, v))).collect();
        let request = self.partner(Method::GET, &Self::users_path(credentials, ""), credentials).query(&query);
        Ok(answer::<Envelope<Page<UserView>>>(request.send().await?).await?.data)
    }

    pub async fn user(&self, credentials: &PartnerCredentials, user_id: &str) -> Result<UserView, ClientError> {
        let request = self.partner(Method::GET, &Self::users_path(credentials, &format!("/{user_id}")), credentials);
        Ok(answer::<Envelope<UserView>>(request.send().await?).await?.data)
    }

    /// Sets a user's status: `"active"` or `"disabled"`.
    pub async fn set_user_status(
        &self,
        credentials: &PartnerCredentials,
        user_id: &str,
        status: &str,
    ) -> Result<UserView, ClientError> {
        let request = self
            .partner(Method::PATCH, &Self::users_path(credentials, &format!("/{user_id}")), credentials)
            .json(&UpdateUser { status: status.to_owned() });
        Ok(answer::<Envelope<UserView>>(request.send().await?).await?.data)
    }

    /// Calls the admin API: `path` is below `/admin/v1` (e.g. `/organizations`).
    pub async fn admin<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let mut request = self.http.request(method, format!("{}/admin/v1{path}", self.base));
        if let Some(token) = &self.admin_token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(request.send().await?).await
    }
}

/// Decodes a success body as `T` (an empty body as JSON `null`), or the problem.
async fn answer<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        return serde_json::from_slice(bytes)
            .map_err(|_| ClientError::Unexpected { status, body: String::from_utf8_lossy(bytes).into_owned() });
    }
    match serde_json::from_slice::<ErrorEnvelope>(&bytes) {
        Ok(envelope) => Err(ClientError::Problem { status, problem: envelope.error }),
        Err(_) => Err(ClientError::Unexpected { status, body: String::from_utf8_lossy(&bytes).into_owned() }),
    }
}
