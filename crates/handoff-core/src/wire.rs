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
