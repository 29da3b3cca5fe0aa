//! A list per row, as statement parameters: PostgreSQL cannot unnest an array of arrays row by
//! row, and a JSON array per row would have to be parsed back on the server. So every row's
//! items travel as ONE array, with each row's bounds in it, and the statement takes the row's
//! slice: `($n::uuid[])[r.from:r.to]` (1-based, inclusive; an empty list is `[k+1:k]`).

/// Every row's items in one array, and each row's bounds in it; collected from one list per row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slices<T> {
    pub items: Vec<T>,
    pub from: Vec<i32>,
    pub to: Vec<i32>,
}

impl<T> Slices<T> {
    /// Adds the next row's list.
    pub fn push(&mut self, list: impl IntoIterator<Item = T>) {
        self.from.push(bound(self.items.len() + 1));
        self.items.extend(list);
        self.to.push(bound(self.items.len()));
    }
}

impl<T> Default for Slices<T> {
    fn default() -> Self {
        Slices {
            items: Vec::new(),
            from: Vec::new(),
            to: Vec::new(),
        }
    }
}

impl<T, L: IntoIterator<Item = T>> FromIterator<L> for Slices<T> {
    fn from_iter<I: IntoIterator<Item = L>>(lists: I) -> Self {
        let mut slices = Slices::default();
        for list in lists {
            slices.push(list);
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
        let slices: Slices<u8> = lists.iter().map(|list| list.iter().copied()).collect();
        assert_eq!(slices.items, [1, 2, 3]);
        assert_eq!(slices.from, [1, 3, 3, 4]);
        assert_eq!(slices.to, [2, 2, 3, 3]);
    }
}
