//! The one error type of the domain. Each variant says what the caller can do about it, so the
//! edge can map it to an HTTP status in one place.

/// Why a command was refused or a stored event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A value breaks a rule; `field` names it as the API does (`email`, `stages[2].probability`,
    /// `amount.currency`), or is empty while a value is parsed on its own. Fix the input.
    #[error("{}", describe_invalid(field, message))]
    Invalid { field: String, message: String },
    /// The command is addressed to a record that does not exist.
    #[error("no such record")]
    NotFound,
    /// A create command for a record that already exists.
    #[error("the record already exists")]
    AlreadyExists,
    /// The command no longer holds in the record's current state.
    #[error("{0}")]
    Conflict(String),
    /// The actor's role does not allow this command.
    #[error("{0}")]
    Forbidden(String),
    /// A stored event that no event type, version or upcaster of this build can read.
    #[error("cannot read stored event {event_type}: {message}")]
    Decode { event_type: String, message: String },
}

impl DomainError {
    /// A validation failure of the named field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> DomainError {
        DomainError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A validation failure of a value parsed on its own; the caller names the field with
    /// [`DomainError::within`].
    pub(crate) fn invalid_value(message: impl Into<String>) -> DomainError {
        DomainError::invalid("", message)
    }

    /// Places a validation failure inside `parent`: `""` becomes `parent`, `currency` becomes
    /// `parent.currency` and `[3]` becomes `parent[3]`. Other errors are returned unchanged.
    pub fn within(self, parent: &str) -> DomainError {
        match self {
            DomainError::Invalid { field, message } => {
                let field = if field.is_empty() {
                    parent.to_owned()
                } else if field.starts_with('[') {
                    format!("{parent}{field}")
                } else {
                    format!("{parent}.{field}")
                };
                DomainError::Invalid { field, message }
            }
            other => other,
        }
    }
}

fn describe_invalid(field: &str, message: &str) -> String {
    if field.is_empty() {
        message.to_owned()
    } else {
        format!("{field}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn within_builds_the_field_path_the_api_names() {
        let cases = [
            ("", "amount", "amount"),
            ("currency", "amount", "amount.currency"),
            ("[3]", "tags", "tags[3]"),
            ("probability", "stages[2]", "stages[2].probability"),
        ];
        for (field, parent, expected) in cases {
            assert_eq!(
                DomainError::invalid(field, "bad").within(parent),
                DomainError::invalid(expected, "bad")
            );
        }
        assert_eq!(DomainError::NotFound.within("x"), DomainError::NotFound);
    }

    #[test]
    fn an_invalid_value_reads_as_field_and_rule() {
        assert_eq!(
            DomainError::invalid("email", "must contain an @").to_string(),
            "email: must contain an @"
        );
        assert_eq!(
            DomainError::invalid_value("must not be empty").to_string(),
            "must not be empty"
        );
    }
}
