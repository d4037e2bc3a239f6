//! Two key-ordered sequences walked side by side: the one merge behind every "what changed
//! between the last build's inputs and this one's" question of the build cache.
//!
//! Pure, written by hand: std has no merge-join, and it is too small to take a crate for.

use std::cmp::Ordering;
use std::iter::Peekable;

/// Yields `(Some(old), None)` for an item only in `old`, `(None, Some(new))` for one only in
/// `new`, and `(Some(old), Some(new))` for items with equal keys, in key order.
pub(super) fn paired<T, O, N, F>(old: O, new: N, cmp: F) -> Paired<O::IntoIter, N::IntoIter, F>
where
    O: IntoIterator<Item = T>,
    N: IntoIterator<Item = T>,
    F: Fn(&T, &T) -> Ordering,
{
    Paired {
        old: old.into_iter().peekable(),
        new: new.into_iter().peekable(),
        cmp,
    }
}

/// See [`paired`].
pub(super) struct Paired<O: Iterator, N: Iterator, F> {
    old: Peekable<O>,
    new: Peekable<N>,
    cmp: F,
}

impl<T, O, N, F> Iterator for Paired<O, N, F>
where
    O: Iterator<Item = T>,
    N: Iterator<Item = T>,
    F: Fn(&T, &T) -> Ordering,
{
    type Item = (Option<T>, Option<T>);

    fn next(&mut self) -> Option<Self::Item> {
        let order = match (self.old.peek(), self.new.peek()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(o), Some(n)) => (self.cmp)(o, n),
        };
        Some(match order {
            Ordering::Less => (self.old.next(), None),
            Ordering::Greater => (None, self.new.next()),
            Ordering::Equal => (self.old.next(), self.new.next()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_equal_keys_and_keeps_the_rest_in_key_order() {
        let old = [(1, 'a'), (3, 'b'), (4, 'c')];
        let new = [(2, 'x'), (3, 'y'), (5, 'z')];
        let walked: Vec<_> = paired(old, new, |a, b| a.0.cmp(&b.0)).collect();
        assert_eq!(
            walked,
            vec![
                (Some((1, 'a')), None),
                (None, Some((2, 'x'))),
                (Some((3, 'b')), Some((3, 'y'))),
                (Some((4, 'c')), None),
                (None, Some((5, 'z'))),
            ]
        );
        assert_eq!(paired(old, [], |a, b| a.0.cmp(&b.0)).count(), 3);
    }
}
