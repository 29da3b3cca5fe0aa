//! Pages of a list: a bounded size and an opaque cursor. Records are listed by id (UUIDv7, so in
//! the order they were created), and the cursor is the last id of the page, so the next page is
//! "ids after it": a keyset that stays correct while records are added, and costs the same at
//! page 1,000 as at page 1, unlike OFFSET.

use uuid::Uuid;

use crate::RecordsError;

/// The page size when the request names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page.
pub const MAX_LIMIT: u32 = 500;

/// The version byte leading every cursor, so that its form can change without misreading old
/// ones.
const CURSOR_FORMAT: u8 = 1;

/// Which page of a list to return.
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

/// One page of a list: the records' bodies, and the cursor of the next page if there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<serde_json::Value>,
    pub next_cursor: Option<String>,
}

/// A page request checked: the limit in range and the cursor read back into the id it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Keyset {
    pub limit: u32,
    pub after: Option<Uuid>,
}

impl PageRequest {
    pub(crate) fn keyset(&self) -> Result<Keyset, RecordsError> {
        if !(1..=MAX_LIMIT).contains(&self.limit) {
            return Err(RecordsError::BadLimit(self.limit));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(Keyset {
            limit: self.limit,
            after,
        })
    }
}

/// The cursor of the page that starts after `last_id`.
pub(crate) fn encode_cursor(last_id: Uuid) -> String {
    let mut bytes = Vec::with_capacity(17);
    bytes.push(CURSOR_FORMAT);
    bytes.extend_from_slice(last_id.as_bytes());
    hex::encode(bytes)
}

fn decode_cursor(cursor: &str) -> Result<Uuid, RecordsError> {
    let bytes = hex::decode(cursor).map_err(|_| RecordsError::BadCursor)?;
    match bytes.split_first() {
        Some((&CURSOR_FORMAT, id)) => Uuid::from_slice(id).map_err(|_| RecordsError::BadCursor),
        _ => Err(RecordsError::BadCursor),
    }
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
    fn a_cursor_reads_back_as_the_id_it_was_made_from() {
        let id = Uuid::now_v7();
        let cursor = encode_cursor(id);
        assert_eq!(
            request(10, Some(&cursor)).keyset().unwrap(),
            Keyset {
                limit: 10,
                after: Some(id)
            }
        );
        assert_ne!(cursor, id.to_string(), "a cursor is not the bare id");
    }

    #[test]
    fn a_cursor_that_does_not_decode_is_refused() {
        let id = Uuid::now_v7();
        let other_format = format!("02{}", id.simple());
        let too_short = &encode_cursor(id)[..32];
        let too_long = format!("{}00", encode_cursor(id));
        for cursor in [
            "",
            "zz",
            "not a cursor",
            too_short,
            &too_long,
            &other_format,
        ] {
            assert!(
                matches!(
                    request(10, Some(cursor)).keyset(),
                    Err(RecordsError::BadCursor)
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
                Err(RecordsError::BadLimit(refused)) if refused == limit
            ));
        }
    }
}
