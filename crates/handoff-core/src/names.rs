//! Names and addresses as handoff accepts them from a client: email addresses (ASCII, IDNA
//! domains) and display names. No other module of core is needed to parse them.

/// An email address as handoff stores, compares and hands on: always ASCII, so that look-alike
/// letters can neither merge two people (`K`, U+212A KELVIN SIGN, lower-cases to `k` under
/// Unicode rules) nor split one person in two (full-width or Cyrillic letters).
///
/// The local part must be ASCII (letters, digits and the RFC 5322 `atext` symbols, with single
/// dots, at most 64 bytes) and is lower-cased with ASCII rules. The domain may be internationalised:
/// it is converted to its IDNA (punycode) ASCII form with UTS #46 mapping and the STD3 rules
/// (labels of letters, digits and `-`, not at either end), and needs at least one dot. At most 254
/// bytes in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why [`Email::parse`] refused an input; the message completes a sentence starting with the
/// field's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error(
        "must have an ASCII local part: the part before the @ may hold only ASCII letters, digits and \
         !#$%&'*+/=?^_`{{|}}~.- (internationalised domains are accepted)"
    )]
    NonAsciiLocalPart,
    #[error("is not a valid address")]
    Malformed,
}

/// The RFC 5322 `atext` symbols allowed besides letters and digits in a local part, and the dot.
const LOCAL_SYMBOLS: &str = "!#$%&'*+/=?^_`{|}~.-";

impl Email {
    /// Parses `input` (trimmed) into the ASCII form described on the type.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let (local, domain) = input.trim().split_once('@').ok_or(EmailError::Malformed)?;
        if !local.is_ascii() {
            return Err(EmailError::NonAsciiLocalPart);
        }
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || LOCAL_SYMBOLS.contains(c));
        if !local_ok {
            return Err(EmailError::Malformed);
        }
        let domain = idna::uts46::Uts46::new()
            .to_ascii(
                domain.as_bytes(),
                idna::uts46::AsciiDenyList::STD3,
                idna::uts46::Hyphens::CheckFirstLast,
                idna::uts46::DnsLength::Verify,
            )
            .map_err(|_| EmailError::Malformed)?;
        let email = format!("{}@{domain}", local.to_ascii_lowercase());
        let domain_ok = domain.contains('.') && email.len() <= 254;
        domain_ok.then_some(Self(email)).ok_or(EmailError::Malformed)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

/// A display name: trimmed, 1 to 200 characters, no control characters.
pub fn parse_name(input: &str) -> Option<String> {
    let name = input.trim();
    let ok = !name.is_empty() && name.chars().count() <= 200 && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(input: &str) -> Result<String, EmailError> {
        Email::parse(input).map(String::from)
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Turid@Jensen.com ").as_deref(), Ok("turid@jensen.com"));
        assert_eq!(email("Kari@X.NO").as_deref(), Ok("kari@x.no"));
        assert_eq!(email("o'brien+tag@mail.example.co.uk").as_deref(), Ok("o'brien+tag@mail.example.co.uk"));
        assert_eq!(email("a--b@ab--cd.example").as_deref(), Ok("a--b@ab--cd.example"));
        for bad in [
            "",
            "a",
            "@x.no",
            "a@b",
            "a@.no",
            "a@no.",
            "a b@x.no",
            "a@b@c.no",
            "a@x..no",
            "<script>@b.no",
            "a@b.no>",
            "\"a\"@b.no",
            "a..b@c.no",
            ".a@b.no",
            "a@-b.no",
            "a@b-.no",
            "a\u{0}@b.no",
            "a@b_c.no",
            "a@xn--zz.no",
            "a@x.no\u{0}",
        ] {
            assert_eq!(email(bad), Err(EmailError::Malformed), "{bad:?}");
        }
        assert_eq!(email(&format!("{}@x.no", "a".repeat(65))), Err(EmailError::Malformed));
        assert_eq!(email(&format!("a@{}.no", vec!["b".repeat(60); 5].join("."))), Err(EmailError::Malformed));
    }

    #[test]
    fn email_domains_are_converted_to_their_idna_ascii_form() {
        assert_eq!(email("kari@BÜCHER.example").as_deref(), Ok("kari@xn--bcher-kva.example"));
        assert_eq!(email("kari@xn--bcher-kva.example").as_deref(), Ok("kari@xn--bcher-kva.example"));
        // UTS #46 maps a domain's look-alikes to what DNS resolves anyway.
        assert_eq!(email("kari@\u{212A}.no").as_deref(), Ok("kari@k.no"));
        assert_eq!(email("kari@ｘ.ｎｏ").as_deref(), Ok("kari@x.no"));
    }

    #[test]
    fn email_local_parts_with_look_alike_letters_are_refused() {
        for look_alike in [
            "\u{212A}ari@x.no", // KELVIN SIGN, which Unicode lower-cases to `k`
            "ｋａｒｉ@x.no",    // full-width
            "каri@x.no",        // Cyrillic к and а
            "øyvind@x.no",
        ] {
            assert_eq!(email(look_alike), Err(EmailError::NonAsciiLocalPart), "{look_alike:?}");
        }
        let message = EmailError::NonAsciiLocalPart.to_string();
        assert!(message.contains("ASCII local part"), "{message}");
    }
}
