//! Ways to reach someone: e-mail addresses, phone numbers and the host names of company websites.
//! The rules are deliberately plain (no internationalised names, no quoted local parts): they
//! refuse typing mistakes, not every address the RFCs allow.

use serde::{Deserialize, Serialize};

use super::string_value;
use crate::DomainError;

/// An e-mail address; its domain is lower-cased, its local part kept as typed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_CHARS: usize = 254;
    const MAX_LOCAL_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Email, DomainError> {
        let text = text.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(DomainError::invalid_value(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        let Some((local, domain)) = text.split_once('@') else {
            return Err(DomainError::invalid_value("must contain an @"));
        };
        if domain.contains('@') {
            return Err(DomainError::invalid_value("must contain exactly one @"));
        }
        if local.is_empty() || local.len() > Self::MAX_LOCAL_CHARS {
            return Err(DomainError::invalid_value(
                "the part before the @ must be 1 to 64 characters",
            ));
        }
        let sane_local = local.chars().all(is_local_part_char)
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        if !sane_local {
            return Err(DomainError::invalid_value(
                "the part before the @ holds characters an address cannot have",
            ));
        }
        let domain = host_name(domain)
            .map_err(|rule| DomainError::invalid_value(format!("the part after the @ {rule}")))?;
        Ok(Email(format!("{local}@{domain}")))
    }

    /// The lower-cased part after the @.
    pub fn domain(&self) -> &str {
        self.0.rsplit('@').next().unwrap_or_default()
    }
}

string_value!(Email, {
    "description": "An e-mail address; the domain is lower-cased.",
    "type": "string",
    "format": "email",
    "maxLength": Email::MAX_CHARS
});

/// A phone number as people write it: digits, spaces, `+`, `-` and parentheses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub const MIN_CHARS: usize = 3;
    pub const MAX_CHARS: usize = 32;

    pub fn parse(text: &str) -> Result<Phone, DomainError> {
        let text = text.trim();
        let length = text.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&length) {
            return Err(DomainError::invalid_value(format!(
                "must be {} to {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        let allowed = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')');
        if !text.chars().all(allowed) || text.rfind('+').is_some_and(|at| at > 0) {
            return Err(DomainError::invalid_value(
                "may hold only digits, spaces, -, parentheses and a leading +",
            ));
        }
        if text.chars().filter(char::is_ascii_digit).count() < Self::MIN_CHARS {
            return Err(DomainError::invalid_value("must hold at least 3 digits"));
        }
        Ok(Phone(text.to_owned()))
    }
}

string_value!(Phone, {
    "description": "A phone number: digits, spaces, -, parentheses and a leading +.",
    "type": "string",
    "pattern": r"^\+?[0-9 ()\-]{3,32}$",
    "minLength": Phone::MIN_CHARS,
    "maxLength": Phone::MAX_CHARS
});

/// The host name of a company's website, lower-cased: `acme.com`, not `https://acme.com/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    pub const MAX_CHARS: usize = 253;

    pub fn parse(text: &str) -> Result<Domain, DomainError> {
        let text = text.trim();
        if text.contains('/') || text.contains(':') {
            return Err(DomainError::invalid_value(
                "must be a host name such as acme.com, without scheme, port or path",
            ));
        }
        host_name(text)
            .map(Domain)
            .map_err(DomainError::invalid_value)
    }
}

string_value!(Domain, {
    "description": "A lower-cased host name such as acme.com.",
    "type": "string",
    "format": "hostname",
    "maxLength": Domain::MAX_CHARS
});

fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c)
}

/// A lower-cased DNS host name of at least two labels whose last label is not numeric; on
/// failure, the rule it breaks.
fn host_name(text: &str) -> Result<String, &'static str> {
    let host = text.to_ascii_lowercase();
    if host.is_empty() || host.len() > Domain::MAX_CHARS {
        return Err("must be 1 to 253 characters");
    }
    if !host.is_ascii() {
        return Err("must be an ASCII host name (write international names in punycode)");
    }
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Err("must have at least two labels, such as acme.com");
    }
    let sane_label = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !labels.iter().all(sane_label) {
        return Err(
            "must be labels of letters, digits and inner hyphens (1 to 63 each) joined by dots",
        );
    }
    if labels
        .last()
        .is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("must be a host name, not an IP address");
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_is_trimmed_and_its_domain_lower_cased() {
        let email = Email::parse("  Ada.Lovelace+crm@Example.CO.uk ").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace+crm@example.co.uk");
        assert_eq!(email.domain(), "example.co.uk");
    }

    #[test]
    fn an_email_needs_one_at_and_sane_parts() {
        let refused = [
            "",
            "ada",
            "ada@@example.com",
            "a@b@example.com",
            "@example.com",
            "ada@",
            "ada@localhost",
            ".ada@example.com",
            "ada.@example.com",
            "a..da@example.com",
            "a da@example.com",
            "ada@exa_mple.com",
            "ada@-example.com",
            "ada@example..com",
            "ada@10.0.0.1",
            "adä@example.com",
        ];
        for text in refused {
            assert!(Email::parse(text).is_err(), "{text:?}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
        let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(63).repeat(3));
        assert!(Email::parse(&too_long).is_err());
    }

    #[test]
    fn a_phone_holds_digits_and_punctuation_people_type() {
        for text in ["+49 30 1234567", "(030) 123-45", "112"] {
            assert_eq!(Phone::parse(text).unwrap().as_str(), text);
        }
        for text in [
            "12",
            "+4 ",
            "call me",
            "49+30123",
            &"1".repeat(33),
            "(-) --",
        ] {
            assert!(Phone::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_domain_is_a_lower_cased_host_name() {
        assert_eq!(
            Domain::parse(" WWW.Acme.com ").unwrap().as_str(),
            "www.acme.com"
        );
        for text in [
            "https://acme.com",
            "acme.com/about",
            "acme",
            "acme.com:80",
            "acme..com",
        ] {
            assert!(Domain::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn invalid_json_values_are_refused() {
        assert!(serde_json::from_str::<Email>("\"nobody\"").is_err());
        let email: Email = serde_json::from_str("\"a@B.com\"").unwrap();
        assert_eq!(email.as_str(), "a@b.com");
    }
}
