//! A list per row, as statement parameters: PostgreSQL cannot unnest an array of arrays row by
//! row, and a JSON array per row would have to be parsed back on the server. So every row's
//! items travel as ONE array, with each row's bounds in it, and the statement takes the row's
//! slice: `($n::uuid[])[r.from:r.to]` (1-based, inclusive; an empty list is `[k+1:k]`).

/// Every row's items in one array, and each row's bounds in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slices<T> {
    pub items: Vec<T>,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
}

impl<T: Clone> Slices<T> {
    /// One slice per list, in order.
    pub fn of<'a>(lists: impl ExactSizeIterator<Item = &'a [T]>) -> Slices<T>
    where
        T: 'a,
    {
        let mut slices = Slices {
            items: Vec::new(),
            from: Vec::with_capacity(lists.len()),
            to: Vec::with_capacity(lists.len()),
        };
        for list in lists {
            slices.from.push(bound(slices.items.len() + 1));
            slices.items.extend_from_slice(list);
            slices.to.push(bound(slices.items.len()));
        }
        slices
    }
}

/// A batch's lists hold far fewer than 2^31 items.
fn bound(index: usize) -> i32 {
    i32::try_from(index).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_gets_its_bounds_and_an_empty_list_an_empty_range() {
        let lists: [&[u8]; 4] = [&[1, 2], &[], &[3], &[]];
        let slices = Slices::of(lists.into_iter());
        assert_eq!(slices.items, [1, 2, 3]);
        assert_eq!(slices.from, [1, 3, 3, 4]);
        assert_eq!(slices.to, [2, 2, 3, 3]);
    }
}
