//! The master key at run time: webhook secrets sealed at rest, each bound to its owner (an
//! integration's secret does not open as a supplier's), and the form tokens of the portal's
//! confirmation pages and of the web console's forms.
//!
//! Must not: log a secret, or let a form token of one session, purpose or subject pass for
//! another's.

use handoff_core::crypto::MasterKey;
use handoff_core::model::{InboundIntegration, Supplier};
use handoff_core::stream::AuditStream;
use uuid::Uuid;

use crate::error::ApiError;

/// What a form token is for: signed in with it, so a token of one form is refused by another.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    /// Launching into a supplier; the subject is the supplier's slug.
    Launch,
    /// Replacing the session by a sign-in link's; the subject is the link's `jti`.
    Switch,
    /// Any form of the web console, in an operator session; the subject is empty.
    Console,
}

impl Purpose {
    fn context(self) -> &'static str {
        match self {
            Self::Launch => "handoff:launch",
            Self::Switch => "handoff:switch",
            Self::Console => "handoff:console",
        }
    }
}

/// Seals and opens secrets under the master key.
pub struct Sealer(MasterKey);

impl Sealer {
    pub fn new(master: MasterKey) -> Self {
        Self(master)
    }

    /// Seals a webhook secret for storage under `context` (which names its owner).
    pub fn seal(&self, secret: &str, context: &str) -> Result<Vec<u8>, ApiError> {
        self.0.seal(secret.as_bytes(), context).map_err(|err| {
            tracing::error!(%err, "sealing a secret failed");
            ApiError::internal()
        })
    }

    /// Opens a secret sealed under `context`.
    pub fn unseal(&self, sealed: &[u8], context: &str) -> Result<String, ApiError> {
        let bytes = self.0.open(sealed, context).map_err(|err| {
            tracing::error!(%err, context, "cannot unseal a secret");
            ApiError::internal()
        })?;
        String::from_utf8(bytes).map_err(|_| ApiError::internal())
    }

    /// The form token for `purpose` and `subject` in the session with id `session` (a portal
    /// session or an operator session): a MAC of the three under a key derived from the master key
    /// (the same on every node, in no database; the session's stored digest would not do, as
    /// whoever reads the database has it). It works for no other session, purpose or subject, and
    /// the form is refused once its session ends.
    pub fn form_token(&self, session: Uuid, purpose: Purpose, subject: &str) -> String {
        self.0.form_mac(&[purpose.context().as_bytes(), session.as_bytes(), subject.as_bytes()])
    }

    /// Whether `token` is the form token of `session` for `purpose` and `subject` (constant time).
    pub fn form_token_matches(&self, session: Uuid, purpose: Purpose, subject: &str, token: &str) -> bool {
        self.0.form_mac_matches(&[purpose.context().as_bytes(), session.as_bytes(), subject.as_bytes()], token)
    }
}

/// The context an inbound integration's secret is sealed under: bound to the integration.
pub fn inbound_context(integration: &InboundIntegration) -> String {
    format!("handoff:inbound:{}", integration.id)
}

/// The context a supplier's secret is sealed under: bound to the supplier.
pub fn supplier_context(supplier: &Supplier) -> String {
    format!("handoff:supplier:{}", supplier.id)
}

/// The context an audit stream's webhook secret is sealed under: bound to the stream.
pub fn stream_context(stream: &AuditStream) -> String {
    format!("handoff:stream:{}", stream.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_token_is_bound_to_its_session_purpose_and_subject() {
        let (mine, other) = (Uuid::now_v7(), Uuid::now_v7());
        let (master, another_master) = (Sealer::new(MasterKey::generate().0), Sealer::new(MasterKey::generate().0));
        let token = master.form_token(mine, Purpose::Launch, "lab");
        assert!(master.form_token_matches(mine, Purpose::Launch, "lab", &token));
        assert!(!master.form_token_matches(other, Purpose::Launch, "lab", &token));
        assert!(!master.form_token_matches(mine, Purpose::Launch, "lab2", &token));
        assert!(!master.form_token_matches(mine, Purpose::Switch, "lab", &token));
        assert!(!master.form_token_matches(mine, Purpose::Console, "lab", &token));
        assert!(!master.form_token_matches(mine, Purpose::Launch, "lab", ""));
        // The key is the server's, not anything the database holds.
        assert!(!another_master.form_token_matches(mine, Purpose::Launch, "lab", &token));
    }
}
