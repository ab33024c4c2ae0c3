//! Text log lines a client cannot forge. Every field value that holds a space, a quote, `=`, a
//! backslash or a control character is written quoted with Rust's escapes (`\"`, `\n`, `\u{1b}`),
//! and the message has its control characters and quotes escaped, so nothing a client sent —
//! a path, a header, a name — can end a line or add a `key=value` pair of its own. JSON logs
//! are escaped by JSON itself.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::FormatFields;

/// The field formatter of text logs.
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = Escaper { writer, result: Ok(()), first: true };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct Escaper<'writer> {
    writer: Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl Escaper<'_> {
    fn field(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let separator = if std::mem::take(&mut self.first) { "" } else { " " };
        self.result = match field.name() {
            "message" => write!(self.writer, "{separator}{}", value.escape_debug()),
            name if needs_quotes(value) => write!(self.writer, "{separator}{name}={value:?}"),
            name => write!(self.writer, "{separator}{name}={value}"),
        };
    }
}

impl Visit for Escaper<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        if write!(text, "{value:?}").is_ok() {
            self.field(field, &text);
        }
    }
}

fn needs_quotes(value: &str) -> bool {
    value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '=' | '\\'))
}

#[cfg(test)]
mod tests {
    use super::needs_quotes;

    #[test]
    fn only_plain_values_go_unquoted() {
        assert!(!needs_quotes("550e8400-e29b-41d4-a716-446655440000"));
        assert!(!needs_quotes("/dashboard/patients"));
        for forged in ["a user_id=forged", "x\"y", "a\nb", "k=v", "", "tab\there", "\u{1b}[31m"] {
            assert!(needs_quotes(forged), "{forged:?}");
        }
    }
}
