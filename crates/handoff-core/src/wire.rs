//! Wire types: the JSON shapes of every request and answer, plain serde, shared by the server,
//! the SDK and the CLI so that they cannot drift.

use serde::{Deserialize, Serialize};

/// `{"success": true, "data": …}`: the partner API's success envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

/// `{"success": false, "error": {…}}`: every JSON error of the partner, portal and admin APIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ProblemBody,
}

/// RFC 7807 members, plus the request id to quote to support.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `POST /v1/sso` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_path: Option<String>,
}

/// `POST /v1/sso` answer data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SsoLink {
    pub sso_token: String,
    pub redirect_url: String,
    pub expires_in: u64,
}

/// A page of a list, with the cursor for the next page (absent on the last one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    pub name: String,
    #[serde(default)]
    pub org_numbers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrganizationView {
    pub id: String,
    pub name: String,
    pub org_numbers: Vec<String>,
    pub created_at: String,
    /// Present only in the answer that created the organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    pub name: String,
    #[serde(default)]
    pub embed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_path_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartnerView {
    pub id: String,
    pub name: String,
    pub embed_origins: Vec<String>,
    pub allowed_path_prefixes: Vec<String>,
    pub created_at: String,
    /// Present only in the answer that created the partner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `POST …/secrets` body (optional): how long the old secret stays in use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds, 0 (the old secret ends now, e.g. after a leak) to 604800 [default: 86400].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap_seconds: Option<i64>,
}

/// `POST …/secrets` answer: the new secret (shown once) and when the old one stops working.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RotatedSecret {
    pub secret: String,
    pub previous_expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub organization_id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub status: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditRecordView {
    pub id: i64,
    pub at: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `GET /auth/session` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionView {
    pub user_id: String,
    pub organization_id: String,
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    pub embed: bool,
    pub expires_at: String,
}

/// `POST /admin/v1/inbound-integrations` body; every field but `slug` has a default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInboundIntegration {
    pub slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Seconds a timestamp may be off, either way [default: 15].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<i64>,
    /// `provision` | `register` | `reject` [default: reject].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_user: Option<String>,
    /// Required with `register`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_url: Option<String>,
    /// [default: the server's `default_redirect_path`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing_path: Option<String>,
    /// [default: `Vinst_SSO`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// [default: `timestamp-body-hex`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundIntegrationView {
    pub id: String,
    pub slug: String,
    pub name: String,
    /// The URL the portal POSTs its events to.
    pub endpoint: String,
    pub signature_profile: String,
    pub tolerance_seconds: i64,
    pub event_type: String,
    pub unknown_user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_url: Option<String>,
    pub landing_path: String,
    pub sandbox: bool,
    pub created_at: String,
    /// When the previous secret stops working, during a rotation overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// Present only in the answer that created the integration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// The answer to an SSO webhook (seed 002).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRedirect {
    #[serde(rename = "redirectUrl")]
    pub redirect_url: String,
}

/// A webhook error (seed 002): one human sentence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookError {
    pub error: String,
}

/// `POST /v1/inbound/{slug}/sso/test`: every check, in order, and whether it passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxReport {
    pub ok: bool,
    pub checks: Vec<SandboxCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SandboxCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// `POST /admin/v1/suppliers` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSupplier {
    pub slug: String,
    pub name: String,
    /// Where events are POSTed: https (http only on loopback).
    pub endpoint: String,
    /// Hosts the supplier's `redirectUrl` may name.
    pub allowed_redirect_hosts: Vec<String>,
    /// [default: `timestamp-body-hex`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_profile: Option<String>,
    /// Seconds to wait for the supplier, 1 to 30 [default: 5].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// [default: `Vinst_SSO`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupplierView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub endpoint: String,
    /// Where a signed-in user starts a launch: `{public_url}/launch/{slug}`.
    pub launch_url: String,
    pub allowed_redirect_hosts: Vec<String>,
    pub signature_profile: String,
    pub timeout_seconds: i64,
    pub event_type: String,
    pub created_at: String,
    /// During a rotation overlap: until then handoff still signs with the previous secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<String>,
    /// Present only in the answer that created the supplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}
