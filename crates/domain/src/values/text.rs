//! Text people type: short single-line names, longer bodies, team names and tag sets. Each is
//! trimmed and bounded so that nothing unbounded or invisible reaches the log.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::string_value;
use crate::DomainError;

/// A short single-line text: a name, a title, a subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(text: &str) -> Result<Name, DomainError> {
        single_line(text, Self::MAX_CHARS).map(Name)
    }
}

string_value!(Name, {
    "description": "A single line of text, trimmed, without control characters.",
    "type": "string",
    "minLength": 1,
    "maxLength": Name::MAX_CHARS
});

/// A longer text that may span lines: a body, a description, a reason.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 10_000;

    pub fn parse(text: &str) -> Result<Text, DomainError> {
        let text = text.trim();
        bounded(text, Self::MAX_CHARS)?;
        if text
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(DomainError::invalid_value(
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Text(text.to_owned()))
    }
}

string_value!(Text, {
    "description": "Text that may span lines, trimmed.",
    "type": "string",
    "minLength": 1,
    "maxLength": Text::MAX_CHARS
});

/// The name of a team, which owns records together.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Team(String);

impl Team {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(text: &str) -> Result<Team, DomainError> {
        single_line(text, Self::MAX_CHARS).map(Team)
    }
}

string_value!(Team, {
    "description": "A team's name: a single line of text, trimmed.",
    "type": "string",
    "minLength": 1,
    "maxLength": Team::MAX_CHARS
});

/// A set of tags: each trimmed and lower-cased, kept sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Tags(Vec<String>);

impl Tags {
    pub const MAX_TAGS: usize = 32;
    pub const MAX_TAG_CHARS: usize = 64;

    /// Tags that differ only in case or surrounding space are one tag. A tag is bounded as it
    /// is kept, lower-cased: lower-casing can lengthen it (`İ` becomes two characters), and a
    /// stored tag longer than the bound could not be read back.
    pub fn parse<S: AsRef<str>>(tags: &[S]) -> Result<Tags, DomainError> {
        let mut set = BTreeSet::new();
        for (index, tag) in tags.iter().enumerate() {
            let tag = single_line(&tag.as_ref().to_lowercase(), Self::MAX_TAG_CHARS)
                .map_err(|error| error.within(&format!("[{index}]")))?;
            set.insert(tag);
        }
        if set.len() > Self::MAX_TAGS {
            return Err(DomainError::invalid_value(format!(
                "must hold at most {} tags",
                Self::MAX_TAGS
            )));
        }
        Ok(Tags(set.into_iter().collect()))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, tag: &str) -> bool {
        self.0
            .binary_search_by(|held| held.as_str().cmp(tag))
            .is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Vec<String>> for Tags {
    type Error = DomainError;
    fn try_from(tags: Vec<String>) -> Result<Self, Self::Error> {
        Tags::parse(&tags)
    }
}

impl From<Tags> for Vec<String> {
    fn from(tags: Tags) -> Vec<String> {
        tags.0
    }
}

impl JsonSchema for Tags {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Tags".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A set of tags, lower-cased and sorted.",
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": Tags::MAX_TAG_CHARS},
            "maxItems": Tags::MAX_TAGS,
            "uniqueItems": true
        })
    }
}

/// Trimmed, non-empty, at most `max_chars` characters, no control characters.
fn single_line(text: &str, max_chars: usize) -> Result<String, DomainError> {
    let text = text.trim();
    bounded(text, max_chars)?;
    if text.chars().any(char::is_control) {
        return Err(DomainError::invalid_value(
            "must be a single line without control characters",
        ));
    }
    Ok(text.to_owned())
}

fn bounded(text: &str, max_chars: usize) -> Result<(), DomainError> {
    if text.is_empty() {
        return Err(DomainError::invalid_value("must not be empty"));
    }
    if text.chars().count() > max_chars {
        return Err(DomainError::invalid_value(format!(
            "must be at most {max_chars} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Ada Lovelace ").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(
            Name::parse(&"é".repeat(200))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            200
        );
        for refused in ["", "   ", "two\nlines", "bell\u{7}"] {
            assert!(Name::parse(refused).is_err(), "{refused:?}");
        }
        assert!(Name::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn a_text_may_span_lines_but_is_bounded() {
        assert_eq!(Text::parse(" a\nb\t c ").unwrap().as_str(), "a\nb\t c");
        assert!(Text::parse(&"x".repeat(10_000)).is_ok());
        assert!(Text::parse(&"x".repeat(10_001)).is_err());
        assert!(Text::parse("").is_err());
        assert!(Text::parse("nul\0").is_err());
    }

    #[test]
    fn a_team_name_is_at_most_64_characters() {
        assert!(Team::parse(&"t".repeat(64)).is_ok());
        assert!(Team::parse(&"t".repeat(65)).is_err());
    }

    #[test]
    fn tags_are_a_sorted_lower_cased_set() {
        let tags = Tags::parse(&["VIP", " partner", "vip ", "Berlin"]).unwrap();
        assert_eq!(
            tags.iter().collect::<Vec<_>>(),
            ["berlin", "partner", "vip"]
        );
        assert!(tags.contains("vip"));
        assert!(!tags.contains("VIP"));
    }

    #[test]
    fn a_bad_tag_is_named_by_its_index() {
        assert_eq!(
            Tags::parse(&["ok", " "]).unwrap_err().within("tags"),
            DomainError::invalid("tags[1]", "must not be empty")
        );
        assert!(Tags::parse(&["x".repeat(65)]).is_err());
    }

    #[test]
    fn a_tag_is_bounded_as_it_is_kept_lower_cased() {
        // 40 characters, 80 once lower-cased: what was kept could not be read back.
        let grown = "\u{130}".repeat(40);
        assert_eq!(grown.chars().count(), 40);
        assert!(Tags::parse(&[grown]).is_err());
        let fits = "\u{130}".repeat(32);
        let tags = Tags::parse(&[fits]).unwrap();
        let kept: Vec<String> = tags.iter().map(str::to_owned).collect();
        assert_eq!(Tags::parse(&kept).unwrap(), tags);
    }

    #[test]
    fn at_most_32_tags() {
        let tags: Vec<String> = (0..33).map(|n| format!("t{n}")).collect();
        assert!(Tags::parse(&tags[..32]).is_ok());
        assert!(matches!(
            Tags::parse(&tags),
            Err(DomainError::Invalid { field, .. }) if field.is_empty()
        ));
    }

    #[test]
    fn invalid_json_values_are_refused() {
        assert!(serde_json::from_str::<Name>("\"\"").is_err());
        assert!(serde_json::from_str::<Tags>(r#"["a", ""]"#).is_err());
        let tags: Tags = serde_json::from_str(r#"["B", "a"]"#).unwrap();
        assert_eq!(serde_json::to_string(&tags).unwrap(), r#"["a","b"]"#);
    }
}
