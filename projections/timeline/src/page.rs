//! Pages of a timeline: a bounded size and an opaque cursor. A customer's entries are listed
//! newest first by (position, ordinal), the tail of the entries table's key, and the cursor is
//! the last key of the page, so the next page is "keys before it": a keyset that stays correct
//! while the timeline grows at the top (every new entry has a higher position), unlike OFFSET.

use crate::TimelineError;

/// The page size when the request names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 500;

/// The version byte leading every cursor, so that its form can change without misreading old
/// ones.
const CURSOR_FORMAT: u8 = 1;

/// Which page of a timeline to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to [`MAX_LIMIT`].
    pub limit: u32,
    /// The `next_cursor` of the previous page; `None` for the first page.
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

/// The key of an entry on a timeline: its event's position and its place among the event's
/// entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EntryKey {
    pub position: i64,
    pub ordinal: i32,
}

/// A page request checked: the limit in range and the cursor read back into the key it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyset {
    pub limit: u32,
    pub before: Option<EntryKey>,
}

impl PageRequest {
    pub(crate) fn keyset(&self) -> Result<Keyset, TimelineError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(TimelineError::BadLimit(self.limit));
        }
        let before = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(Keyset {
            limit: self.limit,
            before,
        })
    }
}

/// The cursor of the page that starts after (below) `last`.
pub(crate) fn encode_cursor(last: EntryKey) -> String {
    let mut bytes = Vec::with_capacity(13);
    bytes.push(CURSOR_FORMAT);
    bytes.extend_from_slice(&last.position.to_be_bytes());
    bytes.extend_from_slice(&last.ordinal.to_be_bytes());
    hex::encode(bytes)
}

fn decode_cursor(cursor: &str) -> Result<EntryKey, TimelineError> {
    let bytes = hex::decode(cursor).map_err(|_| TimelineError::BadCursor)?;
    let Some((&CURSOR_FORMAT, key)) = bytes.split_first() else {
        return Err(TimelineError::BadCursor);
    };
    let (position, ordinal) = key
        .split_first_chunk::<8>()
        .ok_or(TimelineError::BadCursor)?;
    let ordinal = <[u8; 4]>::try_from(ordinal).map_err(|_| TimelineError::BadCursor)?;
    let key = EntryKey {
        position: i64::from_be_bytes(*position),
        ordinal: i32::from_be_bytes(ordinal),
    };
    if key.position < 1 || key.ordinal < 0 {
        return Err(TimelineError::BadCursor);
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(limit: u32, cursor: Option<&str>) -> PageRequest {
        PageRequest {
            limit,
            cursor: cursor.map(str::to_owned),
        }
    }

    #[test]
    fn a_cursor_reads_back_as_the_key_it_was_made_from() {
        let key = EntryKey {
            position: 1_234_567,
            ordinal: 49,
        };
        assert_eq!(
            request(10, Some(&encode_cursor(key))).keyset().unwrap(),
            Keyset {
                limit: 10,
                before: Some(key)
            }
        );
    }

    #[test]
    fn a_cursor_that_does_not_decode_is_refused() {
        let valid = encode_cursor(EntryKey {
            position: 7,
            ordinal: 0,
        });
        let other_format = format!("02{}", &valid[2..]);
        let too_short = &valid[..20];
        let too_long = format!("{valid}00");
        let zero = encode_cursor(EntryKey {
            position: 0,
            ordinal: 0,
        });
        for cursor in [
            "",
            "zz",
            "not a cursor",
            too_short,
            &too_long,
            &other_format,
            &zero,
        ] {
            assert!(
                matches!(
                    request(10, Some(cursor)).keyset(),
                    Err(TimelineError::BadCursor)
                ),
                "{cursor:?}"
            );
        }
    }

    #[test]
    fn the_limit_is_from_one_to_five_hundred() {
        assert_eq!(PageRequest::default().keyset().unwrap().limit, 50);
        assert!(request(1, None).keyset().is_ok());
        assert!(request(500, None).keyset().is_ok());
        for limit in [0, 501, u32::MAX] {
            assert!(matches!(
                request(limit, None).keyset(),
                Err(TimelineError::BadLimit(refused)) if refused == limit
            ));
        }
    }
}
