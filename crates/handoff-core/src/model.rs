//! The aggregates handoff stores, as plain values. The names and addresses their fields hold are
//! parsed in `names` (re-exported here).

use serde::{Deserialize, Serialize};

use crate::ids::{IntegrationId, OperatorSessionId, OrganizationId, PartnerId, SessionId, SupplierId, UserId};
use crate::secret::{Credential, SecretDigest};
use handoff_webhook::SignatureProfile;

pub use crate::names::{parse_name, Email, EmailError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub org_numbers: Vec<String>,
    pub credential: Credential,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub id: PartnerId,
    pub name: String,
    /// Origins allowed to frame `/embed/` pages for this partner's sessions.
    pub embed_origins: Vec<String>,
    /// Redirect-path prefixes this partner may mint links for; empty allows every path.
    pub allowed_path_prefixes: Vec<String>,
    pub credential: Credential,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// Who set a user's status last: the operator (admin API, CLI, console) or a partner (partner
/// API). A partner may lift only a partner's disable, never the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusSetter {
    Operator,
    Partner,
}

impl StatusSetter {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusSetter::Operator => "operator",
            StatusSetter::Partner => "partner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Operator, Self::Partner].into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    /// An [`Email`]'s ASCII form.
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub status: UserStatus,
    /// Who changed the status last; `None` while it is the one the user was created with.
    pub status_set_by: Option<StatusSetter>,
    pub created_at: i64,
}

/// What an inbound integration does with an event for a user handoff does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownUserPolicy {
    /// Create the user in the organization, then sign them in.
    Provision,
    /// Send the browser to the integration's registration URL with a signed prefill token.
    Register,
    /// Refuse with 403.
    Reject,
}

impl UnknownUserPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownUserPolicy::Provision => "provision",
            UnknownUserPolicy::Register => "register",
            UnknownUserPolicy::Reject => "reject",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Provision, Self::Register, Self::Reject].into_iter().find(|p| p.as_str() == s)
    }
}

/// Webhook secrets sealed with the master key: the current one and, during a rotation overlap,
/// the previous one with the Unix time it stops being accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecrets {
    pub current: Vec<u8>,
    pub previous: Option<(Vec<u8>, i64)>,
}

impl SealedSecrets {
    /// The secret a *sender* signs with at `now`: the previous one until its overlap ends, so
    /// the receiver has until then to install the new one; the current one after that.
    pub fn signing(&self, now: i64) -> &[u8] {
        match &self.previous {
            Some((previous, until)) if now < *until => previous,
            _ => &self.current,
        }
    }

    /// The secrets a sender signs with at `now` under `profile`: a Vinst header carries one
    /// signature, by [`Self::signing`]; a `standard-webhooks` header carries one per secret in use
    /// (the current one and, until the overlap ends, the previous one), the spec's rotation
    /// without downtime.
    pub fn signing_all(&self, now: i64, profile: SignatureProfile) -> Vec<&[u8]> {
        if profile != SignatureProfile::StandardWebhooks {
            return vec![self.signing(now)];
        }
        let mut secrets = vec![self.current.as_slice()];
        if let Some((previous, until)) = &self.previous {
            if now < *until {
                secrets.push(previous);
            }
        }
        secrets
    }
}

/// A trusted portal that POSTs signed SSO events to `/v1/inbound/{slug}/sso`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundIntegration {
    pub id: IntegrationId,
    pub slug: String,
    pub name: String,
    pub secrets: SealedSecrets,
    pub signature_profile: SignatureProfile,
    pub tolerance_seconds: i64,
    pub event_type: String,
    pub unknown_user: UnknownUserPolicy,
    /// Where `register` sends unknown users (an absolute https URL, or http on loopback).
    pub register_url: Option<String>,
    /// Where a signed-in user lands (a redirect path).
    pub landing_path: String,
    /// Enables `POST /v1/inbound/{slug}/sso/test`.
    pub sandbox: bool,
    pub created_at: i64,
}

/// A third-party application that handoff's users launch into (seed 002, portal side): handoff
/// POSTs it a signed event and sends the browser to the `redirectUrl` it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Supplier {
    pub id: SupplierId,
    pub slug: String,
    pub name: String,
    /// Where events are POSTed: https, or http on a loopback host.
    pub endpoint: String,
    /// The shared secret, sealed; [`SealedSecrets::signing`] says which one signs when.
    pub secrets: SealedSecrets,
    pub signature_profile: SignatureProfile,
    /// Hosts the supplier's `redirectUrl` may name.
    pub allowed_redirect_hosts: Vec<String>,
    pub timeout_seconds: i64,
    pub event_type: String,
    pub created_at: i64,
}

/// A signed-in browser. The cookie is `{id}.{secret}`: `id` finds the row, and the secret is
/// only stored as a digest, compared in constant time (selector and verifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub secret_digest: SecretDigest,
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub partner_id: Option<PartnerId>,
    /// Embed sessions live in their own partitioned cookie and may be framed.
    pub embed: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Absolute expiry; the idle limit is checked against `last_seen_at`.
    pub expires_at: i64,
}

/// A signed-in operator of the web console (`/admin`), opened with the admin token. Stored like
/// a [`Session`]: the cookie is `{id}.{secret}` and only the secret's digest is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    pub id: OperatorSessionId,
    pub secret_digest: SecretDigest,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// Absolute expiry; the idle limit is checked against `last_seen_at`.
    pub expires_at: i64,
}

/// Accepted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Accepted,
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accepted" => Some(Outcome::Accepted),
            "refused" => Some(Outcome::Refused),
            _ => None,
        }
    }
}

/// An audit event before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditEvent {
    pub at: i64,
    /// What happened, dotted: `sso.mint`, `sso.redeem`, `partner.users.create`, `admin.partner.create`…
    pub kind: String,
    pub outcome: Option<Outcome>,
    /// The problem slug of a refusal, or a short word for an acceptance.
    pub reason: String,
    pub partner_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub client_addr: Option<String>,
    pub request_id: Option<String>,
    /// Extra facts (never secrets, never whole tokens): e.g. the token's `jti`.
    pub detail: Option<String>,
}

/// Longest text an audit field keeps, in bytes: what a client sends (paths, request ids, names)
/// reaches the audit log at most this long, so no request can grow the database by more.
pub const AUDIT_FIELD_LIMIT: usize = 256;
/// Longest `detail` an audit record keeps, in bytes.
pub const AUDIT_DETAIL_LIMIT: usize = 1024;
/// What marks a cut field.
pub const CUT_MARK: &str = "…[cut]";

/// `text` at most `limit` bytes long, cut at a character boundary and marked [`CUT_MARK`]
/// when it was longer.
pub fn bounded(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= limit {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = limit.saturating_sub(CUT_MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}{CUT_MARK}", &text[..end]))
}

fn bound_in_place(field: &mut String, limit: usize) {
    if let std::borrow::Cow::Owned(cut) = bounded(field, limit) {
        *field = cut;
    }
}

impl AuditEvent {
    /// This event stamped as accepted at `at` for `reason` (`minted`, `redeemed`, `ok`…).
    pub fn accepted(mut self, at: i64, reason: &str) -> Self {
        self.at = at;
        self.outcome = Some(Outcome::Accepted);
        self.reason = reason.to_owned();
        self
    }

    /// This event stamped as refused at `at` for `reason` (a problem slug, or a finer word such
    /// as `organization-not-linked`), with `detail` unless it already says more.
    pub fn refused(mut self, at: i64, reason: &str, detail: &str) -> Self {
        self.at = at;
        self.outcome = Some(Outcome::Refused);
        self.reason = reason.to_owned();
        if self.detail.is_none() {
            self.detail = Some(detail.to_owned());
        }
        self
    }

    /// Cuts every field to its limit ([`AUDIT_FIELD_LIMIT`], [`AUDIT_DETAIL_LIMIT`]).
    pub fn bound(&mut self) {
        bound_in_place(&mut self.kind, AUDIT_FIELD_LIMIT);
        bound_in_place(&mut self.reason, AUDIT_FIELD_LIMIT);
        for field in [
            &mut self.partner_id,
            &mut self.organization_id,
            &mut self.user_id,
            &mut self.client_addr,
            &mut self.request_id,
        ]
        .into_iter()
        .flatten()
        {
            bound_in_place(field, AUDIT_FIELD_LIMIT);
        }
        if let Some(detail) = &mut self.detail {
            bound_in_place(detail, AUDIT_DETAIL_LIMIT);
        }
    }
}

/// A stored audit event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// Filters for the audit log; every field narrows, `before` is the cursor (an id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub kind: Option<String>,
    pub outcome: Option<Outcome>,
    /// The refusal (or acceptance) reason, e.g. `user-disabled`.
    pub reason: Option<String>,
    pub partner_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before: Option<i64>,
    pub limit: u32,
}

/// A page of an export: the records with `since <= at < until` and `id <= newest` (the log as
/// it was when the export started), oldest first by `(at, id)`, after the cursor `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditRange {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub newest: i64,
    /// The `(at, id)` of the last record of the previous page.
    pub after: Option<(i64, i64)>,
    /// 1 to 1000.
    pub limit: u32,
}

/// Keyset pagination over ids: items after `after`, at most `limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<String>,
    pub limit: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_signs_with_the_previous_secret_until_the_overlap_ends() {
        let secrets = SealedSecrets { current: b"new".to_vec(), previous: Some((b"old".to_vec(), 100)) };
        assert_eq!(secrets.signing(99), b"old");
        assert_eq!(secrets.signing(100), b"new");
        let immediate = SealedSecrets { current: b"new".to_vec(), previous: None };
        assert_eq!(immediate.signing(0), b"new");
    }

    #[test]
    fn audit_fields_are_cut_at_a_character_boundary_and_marked() {
        assert_eq!(bounded("short", 10), "short");
        let long = "ø".repeat(200);
        let cut = bounded(&long, AUDIT_FIELD_LIMIT);
        assert!(cut.len() <= AUDIT_FIELD_LIMIT && cut.ends_with(CUT_MARK), "{cut}");
        let mut event = AuditEvent {
            request_id: Some("r".repeat(10_000)),
            detail: Some("d".repeat(10_000)),
            ..AuditEvent::default()
        };
        event.bound();
        assert_eq!(event.request_id.as_deref().map(str::len), Some(AUDIT_FIELD_LIMIT));
        assert_eq!(event.detail.as_deref().map(str::len), Some(AUDIT_DETAIL_LIMIT));
    }
}
