//! Whole-column forms of the checks' row-by-row comparisons, and joins by position instead of
//! by hash. Each gives exactly the answer of the row loop or hash join it stands for: where
//! its precondition (no nulls, keys in a shared order, a contiguous layout) does not hold, it
//! says so and the caller takes the row loop or the hash join, so a broken world is named
//! with the same rule and detail as before and only a well-formed one takes the fast path.
//!
//! Why: at 1M flows the per-row `memcmp` of the identity columns and the hash joins by
//! `flow_id` and `(merchant_id, arrival_seq)` were a quarter of generation's CPU time.

use arrow_array::{Array, StringArray};

use crate::fasthash::{FastMap, map_with_capacity};

/// Bytes compared per `memcmp` when checking a column against a repeated value.
const BLOCK: usize = 64 * 1024;

/// `a`'s rows as (relative offsets, value bytes): rows are equal iff both are.
fn layout(a: &StringArray) -> (&[i32], &[u8]) {
    let off = a.value_offsets();
    let (first, last) = (off[0] as usize, off[off.len() - 1] as usize);
    (off, &a.value_data()[first..last])
}

/// Slice equality that skips the comparison when both are the same memory (the generator's
/// tables share columns, so a check often compares a column with itself).
fn same_bytes<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    (a.len() == b.len() && std::ptr::eq(a.as_ptr(), b.as_ptr())) || a == b
}

/// Whether every row of `a` is non-null and equal to `v`: its offsets advance by `v.len()`
/// and its value bytes are `v` repeated, compared [`BLOCK`] bytes at a time.
pub(super) fn all_equal_to(a: &StringArray, v: &str) -> bool {
    if a.null_count() != 0 {
        return false;
    }
    let (off, bytes) = layout(a);
    let len = v.len() as i64;
    let base = i64::from(off[0]);
    if !off
        .iter()
        .enumerate()
        .all(|(i, &o)| i64::from(o) - base == i as i64 * len)
    {
        return false;
    }
    if v.is_empty() {
        return true;
    }
    let pattern = v.repeat((BLOCK / v.len()).max(1)).into_bytes();
    bytes
        .chunks(pattern.len())
        .all(|c| c == &pattern[..c.len()])
}

/// Whether `a` and `b` hold the same non-null strings row by row (`a.value(i) == b.value(i)`
/// for every `i`); `false` also when either has nulls (the caller's row loop decides then).
pub(super) fn same_strings(a: &StringArray, b: &StringArray) -> bool {
    if a.len() != b.len() || a.null_count() != 0 || b.null_count() != 0 {
        return false;
    }
    let ((oa, va), (ob, vb)) = (layout(a), layout(b));
    let offsets = if oa[0] == ob[0] {
        same_bytes(oa, ob)
    } else {
        let (ba, bb) = (oa[0], ob[0]);
        oa.iter().zip(ob).all(|(&x, &y)| x - ba == y - bb)
    };
    offsets && same_bytes(va, vb)
}

/// Whether `v` is strictly increasing (sorted, no duplicates).
pub(super) fn strictly_increasing<T: PartialOrd>(v: &[T]) -> bool {
    v.windows(2).all(|w| w[0] < w[1])
}

/// Row of a key in a key column: the hash join's answer (the last row holding the key), by
/// position when the column is strictly increasing (then each key is on one row, found by a
/// forward cursor for probes in key order, by binary search otherwise).
pub(super) enum RowOf<'a> {
    /// Strictly increasing keys and the row of the last hit.
    Sorted { keys: &'a [i64], at: usize },
    /// Any other column: key → last row holding it.
    Hashed(FastMap<i64, usize>),
}

impl<'a> RowOf<'a> {
    /// The index of `keys`.
    pub(super) fn new(keys: &'a [i64]) -> Self {
        if strictly_increasing(keys) {
            return RowOf::Sorted { keys, at: 0 };
        }
        let mut idx: FastMap<i64, usize> = map_with_capacity(keys.len());
        idx.extend(keys.iter().enumerate().map(|(i, &k)| (k, i)));
        RowOf::Hashed(idx)
    }

    /// The row holding `k`.
    pub(super) fn get(&mut self, k: i64) -> Option<usize> {
        match self {
            RowOf::Hashed(idx) => idx.get(&k).copied(),
            RowOf::Sorted { keys, at } => {
                for j in [*at, *at + 1] {
                    if keys.get(j) == Some(&k) {
                        *at = j;
                        return Some(j);
                    }
                }
                let p = keys.partition_point(|&x| x < k);
                (keys.get(p) == Some(&k)).then(|| {
                    *at = p;
                    p
                })
            }
        }
    }
}

/// Row of a `(merchant_id, arrival_seq)` key in the arrival order: by position when every
/// merchant's rows are contiguous and numbered 1, 2, 3… (a well-formed arrival table: the row
/// of `(m, s)` is then `start(m) + s - 1`, found through a map of the few merchants), else
/// the hash join (the last row holding the key).
pub(super) enum ArrivalRow {
    /// Merchant → (first row, rows).
    Runs(FastMap<u64, (usize, usize)>),
    /// Key → last row holding it.
    Hashed(FastMap<(u64, i64), usize>),
}

impl ArrivalRow {
    /// The index of the rows `(m[i], seq[i])`.
    pub(super) fn new(m: &[u64], seq: &[i64]) -> Self {
        if let Some(runs) = Self::runs(m, seq) {
            return ArrivalRow::Runs(runs);
        }
        let mut idx: FastMap<(u64, i64), usize> = map_with_capacity(m.len());
        idx.extend((0..m.len()).map(|i| ((m[i], seq[i]), i)));
        ArrivalRow::Hashed(idx)
    }

    fn runs(m: &[u64], seq: &[i64]) -> Option<FastMap<u64, (usize, usize)>> {
        let mut runs: FastMap<u64, (usize, usize)> = FastMap::default();
        let mut start = 0;
        for i in 0..m.len() {
            if i == 0 || m[i] != m[i - 1] {
                start = i;
                if runs.insert(m[i], (i, 0)).is_some() {
                    return None;
                }
            }
            if seq[i] != (i - start) as i64 + 1 {
                return None;
            }
            runs.get_mut(&m[i])?.1 += 1;
        }
        Some(runs)
    }

    /// The row holding `(m, s)`.
    pub(super) fn get(&self, m: u64, s: i64) -> Option<usize> {
        match self {
            ArrivalRow::Hashed(idx) => idx.get(&(m, s)).copied(),
            ArrivalRow::Runs(runs) => {
                let &(start, len) = runs.get(&m)?;
                (s >= 1 && s as u64 <= len as u64).then(|| start + s as usize - 1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[Option<&str>]) -> StringArray {
        StringArray::from(v.to_vec())
    }

    #[test]
    fn all_equal_to_matches_the_row_loop() {
        let v = "abc";
        let long = vec![Some(v); 100_000];
        assert!(all_equal_to(&strs(&long), v));
        assert!(all_equal_to(&strs(&long).slice(7, 50_000), v));
        assert!(all_equal_to(&strs(&[]), v));
        let mut one_off = long.clone();
        one_off[77_777] = Some("abd");
        assert!(!all_equal_to(&strs(&one_off), v));
        // Same bytes, other row boundaries.
        assert!(!all_equal_to(&strs(&[Some("ab"), Some("cabc")]), v));
        assert!(!all_equal_to(&strs(&[Some(v), None]), v));
        assert!(all_equal_to(&strs(&[Some(""), Some("")]), ""));
        assert!(!all_equal_to(&strs(&[Some(""), Some("x")]), ""));
    }

    #[test]
    fn same_strings_matches_the_row_loop() {
        let a = strs(&[Some("x"), Some("yy"), Some("zzz"), Some("w")]);
        assert!(same_strings(&a, &a));
        assert!(same_strings(
            &a.slice(1, 2),
            &strs(&[Some("yy"), Some("zzz")])
        ));
        assert!(!same_strings(
            &a,
            &strs(&[Some("xy"), Some("y"), Some("zzz"), Some("w")])
        ));
        assert!(!same_strings(
            &a,
            &strs(&[Some("x"), Some("yy"), Some("zzz"), Some("v")])
        ));
        assert!(!same_strings(&a.slice(0, 3), &a));
        assert!(!same_strings(&strs(&[None]), &strs(&[None])));
    }

    #[test]
    fn row_of_agrees_with_the_hash_join() {
        let sorted = [2i64, 5, 9, 11, 40];
        let shuffled = [9i64, 2, 40, 5, 11, 9];
        for keys in [&sorted[..], &shuffled[..]] {
            let mut idx: FastMap<i64, usize> = FastMap::default();
            idx.extend(keys.iter().enumerate().map(|(i, &k)| (k, i)));
            let mut r = RowOf::new(keys);
            for k in [2, 2, 5, 9, 10, 11, 40, 41, 0, 5, 9, 40, -3] {
                assert_eq!(r.get(k), idx.get(&k).copied(), "{keys:?} {k}");
            }
        }
        assert!(matches!(RowOf::new(&sorted), RowOf::Sorted { .. }));
        assert!(matches!(RowOf::new(&shuffled), RowOf::Hashed(_)));
    }

    #[test]
    fn arrival_row_agrees_with_the_hash_join() {
        let cases: [(&[u64], &[i64]); 4] = [
            (&[7, 7, 7, 3, 3, 9], &[1, 2, 3, 1, 2, 1]),
            // A merchant in two runs, a gap in the numbering, a duplicate key.
            (&[7, 7, 3, 7], &[1, 2, 1, 3]),
            (&[7, 7, 3], &[1, 3, 1]),
            (&[7, 7, 3], &[1, 1, 1]),
        ];
        for (i, (m, seq)) in cases.into_iter().enumerate() {
            let mut idx: FastMap<(u64, i64), usize> = FastMap::default();
            idx.extend((0..m.len()).map(|i| ((m[i], seq[i]), i)));
            let r = ArrivalRow::new(m, seq);
            assert_eq!(matches!(r, ArrivalRow::Runs(_)), i == 0);
            for mm in [3u64, 7, 9, 4] {
                for s in -1..5 {
                    assert_eq!(r.get(mm, s), idx.get(&(mm, s)).copied(), "{i} {mm} {s}");
                }
            }
        }
    }
}
