//! Typed ids: a `UserId` can never be passed where a `PartnerId` is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }

            /// A fresh id that sorts after the ids made before it (UUIDv7): rows keyed by it are
            /// appended to their index instead of scattered through it.
            pub fn new_ordered() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

id_type!(
    /// A tenant of the portal.
    OrganizationId
);
id_type!(
    /// An outside system allowed to mint SSO links.
    PartnerId
);
id_type!(
    /// A person, member of exactly one organization.
    UserId
);
id_type!(
    /// A trusted portal that sends SSO webhooks to handoff.
    IntegrationId
);
id_type!(
    /// A third-party application handoff's users launch into.
    SupplierId
);
id_type!(
    /// An audit event stream: a cursor over the audit log and where it delivers.
    StreamId
);
id_type!(
    /// A session's public half (the selector); the cookie's secret half is only stored as a digest.
    SessionId
);
id_type!(
    /// An operator session's public half (the console's cookie selector); its secret half is only
    /// stored as a digest.
    OperatorSessionId
);
