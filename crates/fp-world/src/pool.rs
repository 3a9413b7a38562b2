//! Work on every core with results in job order, so no output depends on the thread count or
//! on the threads' timing; [`with_threads`] caps the thread count (the determinism tests
//! compare worlds generated on 1 and several threads, and a caller sharing the machine can
//! leave cores free).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

thread_local! {
    /// Cap set by [`with_threads`] on this thread; `None`: every core.
    static CAP: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Run `f` with every parallel step it starts (generation, checks, `verify`) on at most
/// `threads` threads (at least 1). The bytes written do not change; only the time does.
pub fn with_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CAP.set(self.0);
        }
    }
    let _restore = Restore(CAP.replace(Some(threads.max(1))));
    f()
}

/// Threads a parallel step may use here: the [`with_threads`] cap, else the core count.
pub(crate) fn threads() -> usize {
    CAP.get()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1)
}

/// Run `f` on every job on up to [`threads`] scoped threads (each takes the next job in
/// order); results in job order, so they do not depend on the threads' timing. The workers
/// inherit the cap, so nested steps respect it too.
pub(crate) fn parallel<J: Sync, R: Send>(jobs: &[J], f: impl Fn(&J) -> R + Sync) -> Vec<R> {
    let cap = CAP.get();
    let threads = threads().min(jobs.len()).max(1);
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            let r = f(job);
            *slots[i].lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| {
                CAP.set(cap);
                work();
            });
        }
        work();
    });
    // Every job ran (a panicking one would have propagated out of the scope).
    slots
        .into_iter()
        .zip(jobs)
        .map(|(m, job)| {
            m.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .unwrap_or_else(|| f(job))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_scoped_and_inherited_by_workers() {
        let outer = threads();
        let seen = with_threads(1, || {
            let inner = parallel(&[0, 1, 2], |_| threads());
            (threads(), inner)
        });
        assert_eq!(seen, (1, vec![1, 1, 1]));
        assert_eq!(threads(), outer);
        let nested = with_threads(2, || parallel(&[0, 1], |_| parallel(&[0], |_| threads())));
        assert_eq!(nested, vec![vec![2], vec![2]]);
    }
}
