//! Rows to models and back: the column decoding every `sql` module shares.
//!
//! Owns: parsing stored ids, digests, JSON lists and flags, and reporting a value that does not
//! parse as corruption. Must not: run queries.

use std::str::FromStr;

use handoff_core::model::{
    AuditEvent, AuditRecord, InboundIntegration, OperatorSession, Organization, Outcome, Partner, SealedSecrets,
    Session, StatusSetter, Supplier, UnknownUserPolicy, User, UserStatus,
};
use handoff_core::secret::{Credential, SecretDigest};
use handoff_core::store::{AuditCount, StoreError, StoreResult, StoredKey};
use handoff_core::stream::{AuditStream, Cursor, Filter};
use handoff_core::token::KeyKind;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{backend, failure};

pub(super) fn parse<T: FromStr>(value: &str) -> StoreResult<T> {
    value.parse().map_err(|_| StoreError::Backend(format!("corrupt id in database: {value:?}")))
}

pub(super) fn opt_parse<T: FromStr>(value: Option<String>) -> StoreResult<Option<T>> {
    value.as_deref().map(parse).transpose()
}

pub(super) fn digest(bytes: &[u8]) -> StoreResult<SecretDigest> {
    SecretDigest::from_bytes(bytes).ok_or_else(|| StoreError::Backend("corrupt digest in database".into()))
}

pub(super) fn json_list(text: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(text).map_err(failure)
}

pub(super) fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

pub(super) fn credential(row: &AnyRow) -> StoreResult<Credential> {
    let current = digest(&row.try_get::<Vec<u8>, _>("secret_digest").map_err(backend)?)?;
    let previous_digest: Option<Vec<u8>> = row.try_get("previous_secret_digest").map_err(backend)?;
    let previous_expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(backend)?;
    let previous = match (previous_digest, previous_expires) {
        (Some(d), Some(at)) => Some((digest(&d)?, at)),
        _ => None,
    };
    Ok(Credential { current, previous })
}

pub(super) fn previous_parts(credential: &Credential) -> (Option<Vec<u8>>, Option<i64>) {
    match credential.previous {
        Some((d, at)) => (Some(d.as_bytes().to_vec()), Some(at)),
        None => (None, None),
    }
}

/// A boolean column: `BOOLEAN` in PostgreSQL, an integer in SQLite.
pub(super) fn flag(row: &AnyRow, column: &str) -> StoreResult<bool> {
    row.try_get::<bool, _>(column).or_else(|_| row.try_get::<i64, _>(column).map(|v| v != 0)).map_err(backend)
}

pub(super) fn organization(row: &AnyRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: parse(row.try_get("id").map_err(backend)?)?,
        name: row.try_get("name").map_err(backend)?,
        org_numbers: json_list(row.try_get("org_numbers").map_err(backend)?)?,
        credential: credential(row)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn partner(row: &AnyRow) -> StoreResult<Partner> {
    Ok(Partner {
        id: parse(row.try_get("id").map_err(backend)?)?,
        name: row.try_get("name").map_err(backend)?,
        embed_origins: json_list(row.try_get("embed_origins").map_err(backend)?)?,
        allowed_path_prefixes: json_list(row.try_get("allowed_path_prefixes").map_err(backend)?)?,
        credential: credential(row)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn user(row: &AnyRow) -> StoreResult<User> {
    let status: &str = row.try_get("status").map_err(backend)?;
    let set_by: Option<&str> = row.try_get("status_set_by").map_err(backend)?;
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt {what} in database"));
    Ok(User {
        id: parse(row.try_get("id").map_err(backend)?)?,
        organization_id: parse(row.try_get("organization_id").map_err(backend)?)?,
        email: row.try_get("email").map_err(backend)?,
        given_name: row.try_get("given_name").map_err(backend)?,
        family_name: row.try_get("family_name").map_err(backend)?,
        status: UserStatus::parse(status).ok_or_else(|| corrupt("status"))?,
        status_set_by: set_by.map(|by| StatusSetter::parse(by).ok_or_else(|| corrupt("status setter"))).transpose()?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn session(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        id: parse(row.try_get("id").map_err(backend)?)?,
        secret_digest: digest(&row.try_get::<Vec<u8>, _>("secret_digest").map_err(backend)?)?,
        user_id: parse(row.try_get("user_id").map_err(backend)?)?,
        organization_id: parse(row.try_get("organization_id").map_err(backend)?)?,
        partner_id: opt_parse(row.try_get("partner_id").map_err(backend)?)?,
        embed: flag(row, "embed")?,
        created_at: row.try_get("created_at").map_err(backend)?,
        last_seen_at: row.try_get("last_seen_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
    })
}

pub(super) fn operator_session(row: &AnyRow) -> StoreResult<OperatorSession> {
    Ok(OperatorSession {
        id: parse(row.try_get("id").map_err(backend)?)?,
        secret_digest: digest(&row.try_get::<Vec<u8>, _>("secret_digest").map_err(backend)?)?,
        created_at: row.try_get("created_at").map_err(backend)?,
        last_seen_at: row.try_get("last_seen_at").map_err(backend)?,
        expires_at: row.try_get("expires_at").map_err(backend)?,
    })
}

pub(crate) fn audit_record(row: &AnyRow) -> StoreResult<AuditRecord> {
    let outcome: Option<String> = row.try_get("outcome").map_err(backend)?;
    Ok(AuditRecord {
        id: row.try_get("id").map_err(backend)?,
        event: AuditEvent {
            at: row.try_get("at").map_err(backend)?,
            kind: row.try_get("kind").map_err(backend)?,
            outcome: outcome.as_deref().and_then(Outcome::parse),
            reason: row.try_get("reason").map_err(backend)?,
            partner_id: row.try_get("partner_id").map_err(backend)?,
            organization_id: row.try_get("organization_id").map_err(backend)?,
            user_id: row.try_get("user_id").map_err(backend)?,
            client_addr: row.try_get("client_addr").map_err(backend)?,
            request_id: row.try_get("request_id").map_err(backend)?,
            detail: row.try_get("detail").map_err(backend)?,
        },
    })
}

/// A row of `audit_counts`, whose `outcome` is '' for a record without one.
pub(super) fn audit_count(row: &AnyRow) -> StoreResult<AuditCount> {
    let outcome: &str = row.try_get("outcome").map_err(backend)?;
    let count: i64 = row.try_get("count").map_err(backend)?;
    Ok(AuditCount {
        hour: row.try_get("hour").map_err(backend)?,
        kind: row.try_get("kind").map_err(backend)?,
        outcome: Outcome::parse(outcome),
        reason: row.try_get("reason").map_err(backend)?,
        count: u64::try_from(count).map_err(failure)?,
    })
}

pub(super) fn sealed_secrets(row: &AnyRow) -> StoreResult<SealedSecrets> {
    let previous_sealed: Option<Vec<u8>> = row.try_get("previous_secret_sealed").map_err(backend)?;
    let previous_expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(backend)?;
    Ok(SealedSecrets {
        current: row.try_get("secret_sealed").map_err(backend)?,
        previous: previous_sealed.zip(previous_expires),
    })
}

pub(super) fn integration(row: &AnyRow) -> StoreResult<InboundIntegration> {
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt {what} in database"));
    let profile: &str = row.try_get("signature_profile").map_err(backend)?;
    let policy: &str = row.try_get("unknown_user").map_err(backend)?;
    Ok(InboundIntegration {
        id: parse(row.try_get("id").map_err(backend)?)?,
        slug: row.try_get("slug").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        secrets: sealed_secrets(row)?,
        signature_profile: profile.parse().map_err(|_| corrupt("signature profile"))?,
        tolerance_seconds: row.try_get("tolerance_seconds").map_err(backend)?,
        event_type: row.try_get("event_type").map_err(backend)?,
        unknown_user: UnknownUserPolicy::parse(policy).ok_or_else(|| corrupt("unknown-user policy"))?,
        register_url: row.try_get("register_url").map_err(backend)?,
        landing_path: row.try_get("landing_path").map_err(backend)?,
        sandbox: flag(row, "sandbox")?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn supplier(row: &AnyRow) -> StoreResult<Supplier> {
    let profile: &str = row.try_get("signature_profile").map_err(backend)?;
    Ok(Supplier {
        id: parse(row.try_get("id").map_err(backend)?)?,
        slug: row.try_get("slug").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        endpoint: row.try_get("endpoint").map_err(backend)?,
        secrets: sealed_secrets(row)?,
        signature_profile: profile.parse().map_err(|_| StoreError::Backend("corrupt signature profile".into()))?,
        allowed_redirect_hosts: json_list(row.try_get("allowed_redirect_hosts").map_err(backend)?)?,
        timeout_seconds: row.try_get("timeout_seconds").map_err(backend)?,
        event_type: row.try_get("event_type").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn stored_key(row: &AnyRow) -> StoreResult<StoredKey> {
    let kind: &str = row.try_get("kind").map_err(backend)?;
    Ok(StoredKey {
        kid: row.try_get("kid").map_err(backend)?,
        kind: KeyKind::parse(kind).ok_or_else(|| StoreError::Backend(format!("unknown key kind {kind}")))?,
        sealed_secret: row.try_get("sealed_secret").map_err(backend)?,
        public: row.try_get("public").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}

pub(super) fn audit_stream(row: &AnyRow) -> StoreResult<AuditStream> {
    let kind: &str = row.try_get("kind").map_err(backend)?;
    let corrupt = |what: &str| StoreError::Backend(format!("corrupt stream {what} in database"));
    let outcomes = json_list(row.try_get("outcomes").map_err(backend)?)?
        .iter()
        .map(|o| Outcome::parse(o).ok_or_else(|| corrupt("outcome")))
        .collect::<StoreResult<Vec<_>>>()?;
    let failures: i64 = row.try_get("failures").map_err(backend)?;
    Ok(AuditStream {
        id: parse(row.try_get("id").map_err(backend)?)?,
        name: row.try_get("name").map_err(backend)?,
        kind: kind.parse().map_err(|_| corrupt("kind"))?,
        url: row.try_get("url").map_err(backend)?,
        path: row.try_get("path").map_err(backend)?,
        filter: Filter { kinds: json_list(row.try_get("kinds").map_err(backend)?)?, outcomes },
        secret_sealed: row.try_get("secret_sealed").map_err(backend)?,
        paused: flag(row, "paused")?,
        cursor: Cursor {
            tx: row.try_get("cursor_tx").map_err(backend)?,
            id: row.try_get("cursor_id").map_err(backend)?,
        },
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_error: row.try_get("last_error").map_err(backend)?,
        next_attempt_at: row.try_get("next_attempt_at").map_err(backend)?,
        last_delivered_at: row.try_get("last_delivered_at").map_err(backend)?,
        lease_owner: row.try_get("lease_owner").map_err(backend)?,
        lease_until: row.try_get("lease_until").map_err(backend)?,
        created_at: row.try_get("created_at").map_err(backend)?,
    })
}
