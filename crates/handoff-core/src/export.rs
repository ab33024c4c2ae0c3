//! The audit record's one shape outside the database: the wire view (`AuditRecordView`, what the
//! admin API answers) and its two line formats, JSON lines and CSV. The console's export and
//! `handoff audit export` both render through [`Format`], so an archive reads the same whichever
//! made it.
//!
//! Owns: the conversion record → view, the CSV header and row (RFC 4180, with the guard against
//! CSV injection). Must not: read the store or write anywhere (callers stream what this renders).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::model::AuditRecord;
use crate::wire::AuditRecordView;

/// The columns of a CSV export, in the order of the view's fields.
pub const CSV_HEADER: &str =
    "id,at,kind,outcome,reason,partner_id,organization_id,user_id,client_addr,request_id,detail\r\n";

/// `unix` in RFC 3339 (UTC), the time format of every record and answer; empty when out of range.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix).ok().and_then(|t| t.format(&Rfc3339).ok()).unwrap_or_default()
}

/// The record as every answer shows it (times in RFC 3339, UTC).
pub fn view(r: &AuditRecord) -> AuditRecordView {
    into_view(r.clone())
}

/// [`view`], taking the record's strings instead of copying them.
fn into_view(r: AuditRecord) -> AuditRecordView {
    let e = r.event;
    AuditRecordView {
        id: r.id,
        at: rfc3339(e.at),
        kind: e.kind,
        outcome: e.outcome.map(|o| o.as_str().to_owned()),
        reason: e.reason,
        partner_id: e.partner_id,
        organization_id: e.organization_id,
        user_id: e.user_id,
        client_addr: e.client_addr,
        request_id: e.request_id,
        detail: e.detail,
    }
}

/// `records` as one JSON array of views: the body of an audit stream's webhook delivery.
pub fn json_array(records: Vec<AuditRecord>) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&records.into_iter().map(into_view).collect::<Vec<_>>())
}

/// An export's format: JSON lines (one `AuditRecordView` a line, `\n`) or CSV (a header, then
/// one row a record, `\r\n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// `jsonl` or `csv`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "jsonl" => Some(Self::JsonLines),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::JsonLines => "jsonl",
            Self::Csv => "csv",
        }
    }

    /// What comes before the first record.
    pub fn header(self) -> &'static str {
        match self {
            Self::JsonLines => "",
            Self::Csv => CSV_HEADER,
        }
    }

    /// Appends `records` to `out`, one line each.
    pub fn render(self, records: &[AuditRecord], out: &mut String) -> Result<(), serde_json::Error> {
        for record in records {
            let view = view(record);
            match self {
                Self::JsonLines => {
                    out.push_str(&serde_json::to_string(&view)?);
                    out.push('\n');
                }
                Self::Csv => {
                    csv_row(&view, out);
                    out.push_str("\r\n");
                }
            }
        }
        Ok(())
    }
}

/// One CSV row (RFC 4180): a field with a comma, a quote or a line break is quoted, its quotes
/// doubled. A field a spreadsheet would read as a formula (starting with `=`, `+`, `-` or `@`;
/// request ids and details carry what clients sent) gets a leading `'`, as OWASP advises against
/// CSV injection.
fn csv_row(view: &AuditRecordView, out: &mut String) {
    let id = view.id.to_string();
    let fields = [
        Some(id.as_str()),
        Some(view.at.as_str()),
        Some(view.kind.as_str()),
        view.outcome.as_deref(),
        Some(view.reason.as_str()),
        view.partner_id.as_deref(),
        view.organization_id.as_deref(),
        view.user_id.as_deref(),
        view.client_addr.as_deref(),
        view.request_id.as_deref(),
        view.detail.as_deref(),
    ];
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let field = field.unwrap_or_default();
        let quoted = field.contains([',', '"', '\n', '\r']);
        if quoted {
            out.push('"');
        }
        if field.starts_with(['=', '+', '-', '@']) {
            out.push('\'');
        }
        if quoted {
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AuditEvent, Outcome};

    fn record(detail: &str) -> AuditRecord {
        let event = AuditEvent {
            at: 1_748_768_400,
            kind: "sso.mint".into(),
            outcome: Some(Outcome::Refused),
            reason: "invalid-request".into(),
            request_id: Some("-1".into()),
            detail: Some(detail.into()),
            ..AuditEvent::default()
        };
        AuditRecord { id: 7, event }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_defuses_formulas() {
        let mut out = String::new();
        Format::Csv.render(&[record("=HYPERLINK(\"x\"), then\nmore")], &mut out).unwrap();
        assert_eq!(
            out,
            "7,2025-06-01T09:00:00Z,sso.mint,refused,invalid-request,,,,,'-1,\"'=HYPERLINK(\"\"x\"\"), then\nmore\"\r\n"
        );
    }

    #[test]
    fn json_lines_are_the_admin_api_view() {
        let mut out = String::new();
        Format::JsonLines.render(&[record("d")], &mut out).unwrap();
        let line: serde_json::Value = serde_json::from_str(out.strip_suffix('\n').unwrap()).unwrap();
        assert_eq!(line["at"], "2025-06-01T09:00:00Z");
        assert_eq!(line["request_id"], "-1");
        assert!(line.get("partner_id").is_none(), "absent fields are left out, as the admin API does");
        assert_eq!(Format::parse("csv"), Some(Format::Csv));
        assert_eq!(Format::parse("xml"), None);
    }
}
