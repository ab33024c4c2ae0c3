//! The SSO event of seed 002 and the checks of its fields. Its signatures are
//! `handoff-webhook`'s (the signature profiles, timestamps and every check of a signed request).

pub use handoff_proto::wire::{SsoEvent, SsoEventData};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::names::{parse_name, Email};

/// An event whose fields passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    pub event_id: String,
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub org_no: String,
}

/// Checks every field of `event`; the error is a sentence for the sender.
pub fn validate(event: &SsoEvent, expected_type: &str) -> Result<ValidEvent, String> {
    let event_id = event.event_id.trim();
    if event_id.is_empty() || event_id.len() > 200 || event_id.chars().any(char::is_control) {
        return Err("eventId must be 1 to 200 printable characters.".into());
    }
    if event.event_type != expected_type {
        return Err(format!("eventType must be {expected_type:?}."));
    }
    if OffsetDateTime::parse(&event.event_timestamp, &Rfc3339).is_err() {
        return Err("eventTimestamp must be an RFC 3339 timestamp.".into());
    }
    let email = Email::parse(&event.data.email).map_err(|e| format!("data.email {e}."))?;
    let first_name = parse_name(&event.data.first_name).ok_or("data.firstName must be 1 to 200 characters.")?;
    let last_name = parse_name(&event.data.last_name).ok_or("data.lastName must be 1 to 200 characters.")?;
    let org_no = event.data.org_no.trim();
    if org_no.is_empty() || org_no.len() > 64 || org_no.chars().any(char::is_control) {
        return Err("data.orgNo must be 1 to 64 printable characters.".into());
    }
    Ok(ValidEvent { event_id: event_id.to_owned(), email, first_name, last_name, org_no: org_no.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"eventId":"123e4567-e89b-12d3-a456-426614174000","eventType":"Vinst_SSO","eventTimestamp":"2025-05-13T14:30:00Z","data":{"email":"turid@jensen.com","firstName":"Turid","lastName":"Jensen","orgNo":"123456789"}}"#;

    #[test]
    fn event_validation() {
        let event: SsoEvent = serde_json::from_str(BODY).unwrap();
        let valid = validate(&event, "Vinst_SSO").unwrap();
        assert_eq!(valid.email.as_str(), "turid@jensen.com");
        assert!(validate(&event, "Other").is_err());
        let mut bad = event.clone();
        bad.data.email = "nope".into();
        assert!(validate(&bad, "Vinst_SSO").unwrap_err().contains("email"));
    }
}
