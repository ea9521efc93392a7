//! Statement shapes: `IN` lists are padded to a power of two and inserts split into power-of-two
//! chunks, so a batch statement takes a handful of texts, because each pooled connection keeps
//! every text it prepared and a write buffer as large as its largest statement.

/// `values` padded to the next power of two by repeating the last one (an `IN` list means the
/// same with repeats).
pub fn padded<T: Clone>(mut values: Vec<T>) -> Vec<T> {
    if let Some(last) = values.last().cloned() {
        values.resize(values.len().next_power_of_two(), last);
    }
    values
}

/// `rows` in order, in chunks whose lengths are powers of two, at most `most` (a power of two),
/// largest first: 100 rows at most 64 go as 64 + 32 + 4.
pub fn chunks<T>(rows: impl IntoIterator<Item = T>, most: usize) -> Vec<Vec<T>> {
    debug_assert!(most.is_power_of_two());
    let mut left: Vec<T> = rows.into_iter().collect();
    let mut out = Vec::new();
    while !left.is_empty() {
        let size = most.min(1 << left.len().ilog2());
        let rest = left.split_off(size);
        out.push(std::mem::replace(&mut left, rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_padded_with_their_last_value_to_a_power_of_two() {
        assert_eq!(padded(Vec::<u8>::new()), Vec::<u8>::new());
        assert_eq!(padded(vec![7]), vec![7]);
        assert_eq!(padded(vec![1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded((0..64).collect::<Vec<_>>()).len(), 64);
        assert_eq!(padded((0..65).collect::<Vec<_>>()).len(), 128);
    }

    #[test]
    fn inserts_split_into_power_of_two_chunks_in_order() {
        let lengths = |n: usize| chunks(0..n, 64).iter().map(Vec::len).collect::<Vec<_>>();
        assert_eq!(lengths(0), Vec::<usize>::new());
        assert_eq!(lengths(1), vec![1]);
        assert_eq!(lengths(100), vec![64, 32, 4]);
        assert_eq!(lengths(63), vec![32, 16, 8, 4, 2, 1]);
        assert_eq!(lengths(200), vec![64, 64, 64, 8]);
        assert_eq!(chunks(0..200, 64).concat(), (0..200).collect::<Vec<_>>());
        assert_eq!(chunks(0..256, 256).len(), 1);
        // Every length from 1 to 1,000 uses only the seven shapes.
        let shapes: std::collections::BTreeSet<usize> = (1..1000).flat_map(lengths).collect();
        assert_eq!(
            shapes.into_iter().collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16, 32, 64]
        );
    }
}
