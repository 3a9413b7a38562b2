//! A map over a slice on every core, for the CPU-bound stages of a batch (building and
//! serialising receipts): a batch of 1,000 is a few milliseconds of work per stage, and the
//! machine's other cores would otherwise wait on one.

use super::error::IgError;

/// Below this many items the threads cost more than they save.
const MIN_PARALLEL: usize = 128;

/// `items.iter().map(f)` split over the available cores, in order. A panicking worker is a
/// bug in `f`: reported as an error rather than a batch with verdicts missing.
pub fn par_map<T, R, F>(items: &[T], f: F) -> Result<Vec<R>, IgError>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if items.len() < MIN_PARALLEL || threads < 2 {
        return Ok(items.iter().map(&f).collect());
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let mut parts = items.chunks(chunk);
        // The calling thread takes the first chunk itself.
        let first = parts.next().unwrap_or(&[]);
        let f = &f;
        let handles: Vec<_> = parts
            .map(|part| s.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| IgError::Refused("a batch worker thread panicked".into()))?,
            );
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_for_every_size() {
        for n in [0, 1, 127, 128, 129, 1000, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let out = par_map(&items, |x| x * 2).unwrap();
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }
}
