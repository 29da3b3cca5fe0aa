//! Canonical JSON straight from JSON text, for the verifier's hot loop.
//!
//! [`crate::chain::canonical_json`] works on a parsed `serde_json::Value`, which costs a tree of
//! allocations per event; verifying millions of events that way spends most of its time in the
//! allocator. This reads the text PostgreSQL returns for a `jsonb` column and writes the same
//! canonical bytes directly: it sorts each object's members in a reused buffer, copies strings
//! without escapes and short integers verbatim, and hands everything else (escaped strings, other
//! numbers) to `serde_json` one token at a time, so the output is byte for byte what
//! `canonical_json(serde_json::from_slice(text))` gives. Whatever it does not handle (duplicate
//! keys, nesting deeper than `serde_json` accepts, anything malformed) it declines, and the
//! caller falls back to the `Value` route.

use std::io::Write as _;
use std::ops::Range;

/// `serde_json`'s own nesting limit: deeper text does not parse there either.
const MAX_DEPTH: u32 = 128;

/// Reusable buffers; one per verifying loop.
#[derive(Debug, Default)]
pub struct TextCanonicaliser {
    members: Vec<Member>,
    /// Unescaped keys that had escapes in the text.
    keys: Vec<u8>,
    /// An object's members in text order, while they are written back sorted.
    scratch: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Member {
    key: Key,
    /// Where the member's canonical value sits in `out`.
    value: Range<usize>,
}

#[derive(Debug, Clone)]
enum Key {
    /// The key's text between its quotes, without escapes: its bytes are the key.
    Source(Range<usize>),
    /// The unescaped key in `keys`.
    Unescaped(Range<usize>),
}

/// The text was not handled; parse it as a `Value` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declined;

impl TextCanonicaliser {
    pub fn new() -> TextCanonicaliser {
        TextCanonicaliser::default()
    }

    /// Appends the canonical form of the JSON `text` to `out`. On [`Declined`], `out` is left as
    /// it was.
    pub fn canonicalise(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        let start = out.len();
        self.members.clear();
        self.keys.clear();
        let mut parser = Parser { src: text, pos: 0 };
        let result = parser.skip_space().and_then(|()| {
            self.value(&mut parser, out, 0)?;
            parser.skip_space()?;
            if parser.pos == text.len() {
                Ok(())
            } else {
                Err(Declined)
            }
        });
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn value(&mut self, p: &mut Parser<'_>, out: &mut Vec<u8>, depth: u32) -> Result<(), Declined> {
        match p.peek()? {
            b'{' => self.object(p, out, depth + 1),
            b'[' => self.array(p, out, depth + 1),
            b'"' => {
                let (range, escaped) = p.string()?;
                write_string(p.src, range, escaped, out)
            }
            b't' => p.literal(b"true", out),
            b'f' => p.literal(b"false", out),
            b'n' => p.literal(b"null", out),
            b'-' | b'0'..=b'9' => p.number(out),
            _ => Err(Declined),
        }
    }

    fn array(&mut self, p: &mut Parser<'_>, out: &mut Vec<u8>, depth: u32) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        p.pos += 1;
        out.push(b'[');
        p.skip_space()?;
        if p.peek()? == b']' {
            p.pos += 1;
            out.push(b']');
            return Ok(());
        }
        loop {
            p.skip_space()?;
            self.value(p, out, depth)?;
            p.skip_space()?;
            match p.next()? {
                b',' => out.push(b','),
                b']' => {
                    out.push(b']');
                    return Ok(());
                }
                _ => return Err(Declined),
            }
        }
    }

    fn object(
        &mut self,
        p: &mut Parser<'_>,
        out: &mut Vec<u8>,
        depth: u32,
    ) -> Result<(), Declined> {
        if depth > MAX_DEPTH {
            return Err(Declined);
        }
        p.pos += 1;
        let members_base = self.members.len();
        let keys_base = self.keys.len();
        let values_start = out.len();
        p.skip_space()?;
        if p.peek()? == b'}' {
            p.pos += 1;
            out.extend_from_slice(b"{}");
            return Ok(());
        }
        loop {
            p.skip_space()?;
            if p.peek()? != b'"' {
                return Err(Declined);
            }
            let (range, escaped) = p.string()?;
            let key = if escaped {
                let text: String = serde_json::from_slice(&p.src[range.start - 1..range.end + 1])
                    .map_err(|_| Declined)?;
                let from = self.keys.len();
                self.keys.extend_from_slice(text.as_bytes());
                Key::Unescaped(from..self.keys.len())
            } else {
                Key::Source(range)
            };
            p.skip_space()?;
            if p.next()? != b':' {
                return Err(Declined);
            }
            p.skip_space()?;
            let value_start = out.len();
            self.value(p, out, depth)?;
            self.members.push(Member {
                key,
                value: value_start..out.len(),
            });
            p.skip_space()?;
            match p.next()? {
                b',' => {}
                b'}' => break,
                _ => return Err(Declined),
            }
        }

        // Write the members back sorted by their (unescaped) key bytes.
        let src = p.src;
        let keys = &self.keys;
        let key_bytes = |key: &Key| -> &[u8] {
            match key {
                Key::Source(range) => &src[range.clone()],
                Key::Unescaped(range) => &keys[range.clone()],
            }
        };
        let members = &mut self.members[members_base..];
        members.sort_unstable_by(|a, b| key_bytes(&a.key).cmp(key_bytes(&b.key)));
        if members
            .windows(2)
            .any(|pair| key_bytes(&pair[0].key) == key_bytes(&pair[1].key))
        {
            // serde_json keeps the last of duplicate keys; leave that to it.
            return Err(Declined);
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&out[values_start..]);
        out.truncate(values_start);
        out.push(b'{');
        for (index, member) in members.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            match &member.key {
                Key::Source(range) => {
                    out.push(b'"');
                    out.extend_from_slice(&src[range.clone()]);
                    out.push(b'"');
                }
                Key::Unescaped(range) => {
                    let text = std::str::from_utf8(&keys[range.clone()]).map_err(|_| Declined)?;
                    let _ = serde_json::to_writer(&mut *out, text);
                }
            }
            out.push(b':');
            let value = member.value.start - values_start..member.value.end - values_start;
            out.extend_from_slice(&self.scratch[value]);
        }
        out.push(b'}');
        self.members.truncate(members_base);
        self.keys.truncate(keys_base);
        Ok(())
    }
}

/// A string token: verbatim when it has no escapes (then `serde_json` would write it back
/// unchanged), else unescaped and written back by `serde_json`.
fn write_string(
    src: &[u8],
    range: Range<usize>,
    escaped: bool,
    out: &mut Vec<u8>,
) -> Result<(), Declined> {
    let quoted = &src[range.start - 1..range.end + 1];
    if escaped {
        let text: String = serde_json::from_slice(quoted).map_err(|_| Declined)?;
        let _ = serde_json::to_writer(&mut *out, &text);
    } else {
        out.extend_from_slice(quoted);
    }
    Ok(())
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Result<u8, Declined> {
        self.src.get(self.pos).copied().ok_or(Declined)
    }

    fn next(&mut self) -> Result<u8, Declined> {
        let byte = self.peek()?;
        self.pos += 1;
        Ok(byte)
    }

    fn skip_space(&mut self) -> Result<(), Declined> {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.src.get(self.pos) {
            self.pos += 1;
        }
        Ok(())
    }

    /// At an opening quote: the range between the quotes, and whether it holds an escape.
    fn string(&mut self) -> Result<(Range<usize>, bool), Declined> {
        let start = self.pos + 1;
        let mut index = start;
        let mut escaped = false;
        loop {
            match *self.src.get(index).ok_or(Declined)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    index += 2;
                }
                byte if byte < 0x20 => return Err(Declined),
                _ => index += 1,
            }
        }
        self.pos = index + 1;
        Ok((start..index, escaped))
    }

    fn literal(&mut self, word: &[u8], out: &mut Vec<u8>) -> Result<(), Declined> {
        if self.src.get(self.pos..self.pos + word.len()) != Some(word) {
            return Err(Declined);
        }
        self.pos += word.len();
        out.extend_from_slice(word);
        Ok(())
    }

    /// Integers of up to 18 digits are written as they are (so `serde_json` would print them);
    /// any other number is parsed and printed by `serde_json`.
    fn number(&mut self, out: &mut Vec<u8>) -> Result<(), Declined> {
        let start = self.pos;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.src.get(self.pos) {
            self.pos += 1;
        }
        let token = &self.src[start..self.pos];
        let digits = token.strip_prefix(b"-").unwrap_or(token);
        let plain = !digits.is_empty()
            && digits.len() <= 18
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && token != b"-0";
        if plain {
            out.extend_from_slice(token);
            return Ok(());
        }
        let number: serde_json::Number = serde_json::from_slice(token).map_err(|_| Declined)?;
        let _ = write!(out, "{number}");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::canonical_json;
    use proptest::prelude::*;
    use serde_json::Value;

    fn reference(text: &str) -> Vec<u8> {
        let value: Value = serde_json::from_str(text).expect("valid JSON");
        let mut out = Vec::new();
        canonical_json(&value, &mut out);
        out
    }

    fn fast(text: &str) -> Result<Vec<u8>, Declined> {
        let mut out = b"prefix".to_vec();
        TextCanonicaliser::new().canonicalise(text.as_bytes(), &mut out)?;
        Ok(out[6..].to_vec())
    }

    #[test]
    fn known_texts_canonicalise_as_the_value_route_does() {
        let texts = [
            r#"{"b": 1, "a": {"d": [1, 2.5, "x"], "c": null}}"#,
            r#"{"bb": 1, "a": 2, "ccc": [true, false, null, {}, []]}"#,
            r#"{"esc\"aped": "quote \" backslash \\ tab \t newline \n \u0001 \u00e9 \/", "a": 1}"#,
            r#"{"unicode": "Zoë — 東京 😀", "": "empty key"}"#,
            r#"[1e300, 1E5, 1.0, -0.0, 0, -5, 18446744073709551615, -9223372036854775808]"#,
            r#"[123456789012345678, 1234567890123456789, 100000000000000000000000000000]"#,
            "[0.30000000000000004, -5.449687745019645e224, 5e-324, 1.7976931348623157e308]",
            r#""text""#,
            "  \n 42 \t",
            "-7",
            r#"{"a": {"b": {"c": {"z": 1, "y": 2}}}, "A": [{"k": "v", "j": "w"}]}"#,
            r#"{"\u0041": 1, "B": 2}"#,
        ];
        for text in texts {
            assert_eq!(
                fast(text).map(|bytes| String::from_utf8(bytes).expect("UTF-8")),
                Ok(String::from_utf8(reference(text)).expect("UTF-8")),
                "{text}"
            );
        }
    }

    #[test]
    fn what_it_does_not_handle_is_declined_and_leaves_the_output_alone() {
        for text in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1,}"#,
            "[1 2]",
            "tru",
            r#""unterminated"#,
            "{\"control\": \"a\u{1}b\"}",
            "1 2",
            "",
        ] {
            let mut out = b"kept".to_vec();
            assert_eq!(
                TextCanonicaliser::new().canonicalise(text.as_bytes(), &mut out),
                Err(Declined),
                "{text}"
            );
            assert_eq!(out, b"kept");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(fast(&deep), Err(Declined));
    }

    /// JSON text the way PostgreSQL prints `jsonb`: keys by length then bytes, `", "` and `": "`.
    fn jsonb_text(value: &Value, out: &mut String) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    jsonb_text(item, out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                let mut keys: Vec<&String> = fields.keys().collect();
                keys.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
                out.push('{');
                for (index, key) in keys.into_iter().enumerate() {
                    if index > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::to_string(key).expect("a key serialises"));
                    out.push_str(": ");
                    jsonb_text(&fields[key], out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[^\u{0}]{0,12}".prop_map(Value::from),
            "[a-z\"\\\\\n\t\u{1}é😀]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map("[a-zA-Z\"\\\\é]{0,6}", inner, 0..6)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn jsonb_text_canonicalises_as_the_value_route_does(value in json_value()) {
            let mut text = String::new();
            jsonb_text(&value, &mut text);
            prop_assert_eq!(fast(&text), Ok(reference(&text)));
            let compact = value.to_string();
            prop_assert_eq!(fast(&compact), Ok(reference(&compact)));
        }
    }
}
