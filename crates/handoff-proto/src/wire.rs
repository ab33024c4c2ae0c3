//! Wire types: the JSON shapes of every request and answer, plain serde, shared by the server,
//! the SDK and the CLI so that they cannot drift.

use serde::{Deserialize, Serialize};

/// JSON Schemas of the validated strings, for the OpenAPI document. Each pattern accepts exactly
/// what the server's check accepts (schemathesis holds them to it in CI, both ways).
#[cfg(feature = "openapi")]
pub mod schema {
    use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};

    /// Unicode `White_Space`, which `str::trim` removes.
    macro_rules! ws {
        () => {
            r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
        };
    }
    /// Control characters (`char::is_control`).
    macro_rules! ctrl {
        () => {
            r"\x00-\x1f\x7f-\x9f"
        };
    }

    macro_rules! string_schema {
        ($($(#[$doc:meta])* $name:ident = $pattern:expr;)+) => {$(
            $(#[$doc])*
            pub struct $name;

            impl utoipa::PartialSchema for $name {
                fn schema() -> RefOr<Schema> {
                    ObjectBuilder::new().schema_type(Type::String).pattern(Some($pattern)).into()
                }
            }

            impl utoipa::ToSchema for $name {}
        )+};
    }

    string_schema! {
        /// 1 to 200 characters without controls once trimmed (`model::parse_name`).
        Name = concat!("^[", ws!(), "]*[^", ws!(), ctrl!(), "](?:[^", ctrl!(), "]{0,198}[^", ws!(), ctrl!(), "])?[", ws!(), "]*$");
        /// 1 to 64 of a-z, 0-9 and `-`, not starting with `-`.
        Slug = r"^[a-z0-9][a-z0-9-]{0,63}$";
        /// 1 to 100 characters without controls.
        EventType = concat!("^[^", ctrl!(), "]{1,100}$");
        SignatureProfileName = r"^(timestamp-body-hex|timestamp-body-base64|body-hex|body-base64|standard-webhooks)$";
        UnknownUserPolicyName = r"^(provision|register|reject)$";
        /// An audit kind (`sso.redeem`) or a prefix (`admin.*`): 1 to 100 characters without
        /// spaces or controls.
        AuditKindFilter = concat!("^[^", ws!(), ctrl!(), "]{1,100}$");
        /// `webhook` or `jsonl`.
        StreamKindName = r"^(webhook|jsonl)$";
        /// `accepted` or `refused`.
        OutcomeName = r"^(accepted|refused)$";
        UserStatusName = r"^(active|disabled)$";
    }
}

/// Optional whole numbers as JSON Schema means them: `30`, and also `30.0` (the same integer).
/// Fractions, strings and anything else are errors.
pub mod whole {
    use serde::de::{self, Deserializer, Visitor};

    /// In a JSON body.
    pub fn option<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
        narrow(deserializer.deserialize_any(Whole { from_text: false })?)
    }

    /// In a query string, where every value is text: `30` or `30.0`.
    pub fn query<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
        narrow(deserializer.deserialize_any(Whole { from_text: true })?)
    }

    fn narrow<T: TryFrom<i64>, E: de::Error>(value: Option<i64>) -> Result<Option<T>, E> {
        value.map(|n| T::try_from(n).map_err(|_| E::custom("number out of range"))).transpose()
    }

    struct Whole {
        from_text: bool,
    }

    impl Visitor<'_> for Whole {
        type Value = Option<i64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            i64::try_from(v).map(Some).map_err(|_| E::custom("number out of range"))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // Whole numbers below 2^53 only: there the cast is exact.
            if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                Ok(Some(v as i64))
            } else {
                Err(E::custom("expected a whole number"))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            if !self.from_text {
                return Err(E::custom("expected a whole number, not a string"));
            }
            match v.parse::<i64>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => {
                    v.parse::<f64>().map_err(|_| E::custom("expected a whole number")).and_then(|f| self.visit_f64(f))
                }
            }
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
}

/// `{"success": true, "data": …}`: the partner API's success envelope.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Envelope<T> {
    pub success: bool,
    pub data: T,
}

/// `{"success": false, "error": {…}}`: every JSON error of the partner, portal and admin APIs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    pub success: bool,
    pub error: ProblemBody,
}

/// RFC 7807 members, plus the request id to quote to support.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SsoRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_path: Option<String>,
}

/// `POST /v1/sso` answer data.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SsoLink {
    pub sso_token: String,
    pub redirect_url: String,
    pub expires_in: u64,
}

/// A page of a list, with the cursor for the next page (absent on the last one).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Name))]
    pub name: String,
    #[serde(default)]
    pub org_numbers: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatePartner {
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Name))]
    pub name: String,
    #[serde(default)]
    pub embed_origins: Vec<String>,
    #[serde(default)]
    pub allowed_path_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// Seconds, 0 (the old secret ends now, e.g. after a leak) to 604800 [default: 86400].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 604800))]
    pub overlap_seconds: Option<i64>,
}

/// `POST …/secrets` answer: the new secret (shown once) and when the old one stops working.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedSecret {
    pub secret: String,
    pub previous_expires_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// An address with an ASCII local part, lower-cased; an internationalised domain is stored in
    /// its IDNA (punycode) form. A non-ASCII local part is a 400.
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Name))]
    pub given_name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Name))]
    pub family_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[cfg_attr(feature = "openapi", schema(value_type = schema::UserStatusName))]
    pub status: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub organization_id: String,
    /// Always ASCII: lower case, an internationalised domain in punycode.
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub status: String,
    /// Who changed the status last: `operator` or `partner`; absent while it is the status the
    /// user was created with. A partner cannot re-enable a user the operator disabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_set_by: Option<String>,
    pub created_at: String,
}

/// An audit record, in the one shape the admin API, the console's export and `handoff audit
/// export` share (a CSV export has these columns in this order); fields without a value are
/// left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInboundIntegration {
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Slug))]
    pub slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::Name>))]
    pub name: Option<String>,
    /// Seconds a timestamp may be off, either way [default: 15].
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 300))]
    pub tolerance_seconds: Option<i64>,
    /// `provision` | `register` | `reject` [default: reject].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::UnknownUserPolicyName>))]
    pub unknown_user: Option<String>,
    /// Required with `register`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub register_url: Option<String>,
    /// [default: the server's `default_redirect_path`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landing_path: Option<String>,
    /// [default: `Vinst_SSO`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::EventType>))]
    pub event_type: Option<String>,
    /// How events are signed: `timestamp-body-hex`, `timestamp-body-base64`, `body-hex`,
    /// `body-base64` or `standard-webhooks` (Standard Webhooks 1.0; the secret is then issued as
    /// `whsec_<base64>`) [default: `timestamp-body-hex`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::SignatureProfileName>))]
    pub signature_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The SSO event of seed 002: what an inbound integration sends and what a launch sends a
/// supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SsoEvent {
    pub event_id: String,
    pub event_type: String,
    pub event_timestamp: String,
    pub data: SsoEventData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
/// The user an [`SsoEvent`] is about.
pub struct SsoEventData {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub org_no: String,
}

/// The answer to an SSO webhook (seed 002).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookRedirect {
    #[serde(rename = "redirectUrl")]
    pub redirect_url: String,
}

/// A webhook error (seed 002): one human sentence.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WebhookError {
    pub error: String,
}

/// `POST /v1/inbound/{slug}/sso/test`: every check, in order, and whether it passed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SandboxReport {
    pub ok: bool,
    pub checks: Vec<SandboxCheck>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SandboxCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// `POST /admin/v1/suppliers` body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateSupplier {
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Slug))]
    pub slug: String,
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Name))]
    pub name: String,
    /// Where events are POSTed: https (http only on loopback).
    pub endpoint: String,
    /// Hosts the supplier's `redirectUrl` may name.
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub allowed_redirect_hosts: Vec<String>,
    /// How events are signed: `timestamp-body-hex`, `timestamp-body-base64`, `body-hex`,
    /// `body-base64` or `standard-webhooks` (Standard Webhooks 1.0; the secret is then issued as
    /// `whsec_<base64>`) [default: `timestamp-body-hex`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::SignatureProfileName>))]
    pub signature_profile: Option<String>,
    /// Seconds to wait for the supplier, 1 to 25 [default: 5]; requests themselves end after 30.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "whole::option")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 25))]
    pub timeout_seconds: Option<i64>,
    /// [default: `Vinst_SSO`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<schema::EventType>))]
    pub event_type: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// `POST /admin/v1/streams`: an audit event stream, delivering the audit records committed from
/// now on (earlier ones: `handoff audit export`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateStream {
    /// Unique; names the stream in `/metrics`.
    #[cfg_attr(feature = "openapi", schema(value_type = schema::Slug))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(value_type = schema::StreamKindName))]
    pub kind: String,
    /// `webhook`: where batches are POSTed, https (http only on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `jsonl`: the absolute path of the file appended to (its directory must exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only records of these kinds (or `prefix.*`) [default: all].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<schema::AuditKindFilter>))]
    pub kinds: Vec<String>,
    /// Only records with these outcomes [default: all].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<schema::OutcomeName>))]
    pub outcomes: Vec<String>,
}

/// An audit event stream and how far it has delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamView {
    pub id: String,
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub kinds: Vec<String>,
    pub outcomes: Vec<String>,
    /// `active`, `paused` (by the operator), or `failing` (5 or more deliveries in a row failed;
    /// it keeps retrying every minute or so).
    pub state: String,
    /// Audit records committed after the last one delivered (before filtering).
    pub lag_records: u64,
    /// Seconds since the oldest of them was written (0 when there is none).
    pub lag_seconds: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_at: Option<String>,
    /// Failed deliveries since the last success.
    pub failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the next retry is due, while failures wait out their backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    /// `webhook`: the signing secret (`whsec_…`), present only in the answer that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `DELETE /admin/v1/users/{id}/sessions` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EndedSessions {
    pub ended_sessions: u64,
}

/// `POST /admin/v1/keys/rotate` answer: the key ids that sign from now on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RotatedKeys {
    pub sso_kid: String,
    pub identity_kid: String,
    pub prefill_kid: String,
}

/// One kind of signing key: the `kid` that signs on this node and every `kid` that verifies.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeySetView {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    pub kids: Vec<String>,
}

/// `GET /admin/v1/keys` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeysView {
    /// HS256 keys of SSO tokens.
    pub sso: KeySetView,
    /// Ed25519 keys of identity tokens (in the JWKS).
    pub identity: KeySetView,
    /// Ed25519 keys of registration prefill tokens (in the JWKS too).
    pub prefill: KeySetView,
}

/// `GET /admin/v1/stats` answer: the numbers behind the console's overview.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsView {
    /// The last 24 hours, one entry per hour (UTC), oldest first; the last is the current hour.
    pub hourly: Vec<StatsBucket>,
    /// The last 30 days, one entry per day (UTC), oldest first; the last is today.
    pub daily: Vec<StatsBucket>,
    /// The ten most frequent refusals of any kind over the 30 days, most frequent first.
    pub top_refusal_reasons: Vec<RefusalReasonCount>,
    /// Portal sessions live now (not expired, not idle too long).
    pub active_sessions: u64,
    pub health: StatsHealth,
}

/// One hour or day of SSO traffic, per surface.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsBucket {
    /// When the hour or day starts (RFC 3339).
    pub start: String,
    /// `POST /v1/sso` (audit kind `sso.mint`).
    pub partner_mint: OutcomeCounts,
    /// `GET /auth/sso` (`sso.redeem`).
    pub redemption: OutcomeCounts,
    /// `POST /v1/inbound/{slug}/sso` (`inbound.sso`).
    pub inbound_webhook: OutcomeCounts,
    /// `/launch/{slug}` (`launch`).
    pub launch: OutcomeCounts,
}

/// Audit records accepted and refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeCounts {
    pub accepted: u64,
    pub refused: u64,
}

/// How often records of `kind` were refused for `reason`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefusalReasonCount {
    pub kind: String,
    pub reason: String,
    pub count: u64,
}

/// The state of this node and its database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatsHealth {
    /// Whether the database answered.
    pub database: bool,
    /// Writes waiting for this node's next journal batch.
    pub journal_queue: u64,
    /// The signing key of each kind (`sso`, `identity`, `prefill`): the newest, which signs.
    pub signing_keys: Vec<SigningKeyAge>,
    /// When this node last purged expired sessions and records (RFC 3339); null before the first
    /// purge since it started.
    pub last_purge_at: Option<String>,
    /// `audit_retention_days`: audit records older are deleted; 0 keeps every record.
    #[serde(default)]
    pub audit_retention_days: u32,
    /// When the oldest audit record was written (RFC 3339); null when the log is empty.
    #[serde(default)]
    pub oldest_audit_record_at: Option<String>,
    /// This node's last audit purge; null before the first since it started, and always when
    /// `audit_retention_days` is 0.
    #[serde(default)]
    pub last_audit_purge: Option<AuditPurgeView>,
}

/// One run of the audit purge on a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditPurgeView {
    /// When it ran (RFC 3339).
    pub at: String,
    /// It deleted the records written before this time (RFC 3339): `at` less the retention.
    pub before: String,
    /// How many records it deleted.
    pub removed: u64,
    /// Whether it stopped because another node was pruning (PostgreSQL): that node deletes the
    /// rest.
    pub other_node: bool,
}

/// A signing key and how old it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SigningKeyAge {
    /// `sso`, `identity` or `prefill`.
    pub kind: String,
    pub kid: String,
    /// Seconds since the key was created.
    pub age_seconds: i64,
}

/// `GET /healthz` and `GET /readyz` answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok` (alive) or `ready` (the database answers).
    pub status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_may_be_written_as_floats_but_not_as_fractions_or_strings() {
        let parse = |json: &str| serde_json::from_str::<RotateSecret>(json).map(|r| r.overlap_seconds);
        assert_eq!(parse(r#"{"overlap_seconds": 30}"#).unwrap(), Some(30));
        assert_eq!(parse(r#"{"overlap_seconds": 30.0}"#).unwrap(), Some(30));
        assert_eq!(parse(r#"{"overlap_seconds": null}"#).unwrap(), None);
        assert_eq!(parse("{}").unwrap(), None);
        for bad in [r#"{"overlap_seconds": 30.5}"#, r#"{"overlap_seconds": "30"}"#, r#"{"overlap_seconds": 1e300}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
