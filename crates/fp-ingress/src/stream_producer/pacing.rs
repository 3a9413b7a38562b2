//! Pacing: event time compressed by `stream_speedup` into wall time (contracts §9.4).
//!
//! The schedule is absolute: event `i` is due at `start + (ts_i − ts_0) / speedup`, so sleeps
//! never accumulate drift the way `sleep((ts_i − ts_{i−1}) / speedup)` per event would, and
//! the event times themselves are never touched. `max` has no schedule and never sleeps.

use std::time::Duration;

use tokio::time::Instant;

/// How fast a stream replays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the gate admits.
    Max,
    /// Event-time gaps divided by this factor (> 0).
    Factor(f64),
}

/// The schedule of one output's stream.
#[derive(Debug)]
pub struct Pacer {
    speed: Speed,
    origin: Option<(Instant, i64)>,
}

impl Pacer {
    /// A pacer; the first event it sees is due at once and anchors the schedule.
    pub fn new(speed: Speed) -> Self {
        Self {
            speed,
            origin: None,
        }
    }

    /// When the event at `ts_micros` is due (`None`: at once, `max` speed).
    pub fn due(&mut self, ts_micros: i64) -> Option<Instant> {
        let Speed::Factor(factor) = self.speed else {
            return None;
        };
        let (start, ts0) = *self
            .origin
            .get_or_insert_with(|| (Instant::now(), ts_micros));
        // Out-of-order rows (never in a stream view) are due at once, not in the past.
        let gap = (ts_micros - ts0).max(0) as f64 / factor;
        Some(start + Duration::from_secs_f64(gap / 1e6))
    }

    /// Whether this pacer ever sleeps.
    pub fn is_paced(&self) -> bool {
        matches!(self.speed, Speed::Factor(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_never_schedules() {
        let mut p = Pacer::new(Speed::Max);
        assert!(p.due(0).is_none() && p.due(10_000_000).is_none());
        assert!(!p.is_paced());
    }

    #[tokio::test(start_paused = true)]
    async fn due_times_are_event_gaps_divided_by_the_speedup() {
        let mut p = Pacer::new(Speed::Factor(600.0));
        let t0 = p.due(1_000_000).expect("paced");
        // One event-minute later at 600x: 100 ms of wall time.
        let t1 = p.due(61_000_000).expect("paced");
        assert_eq!(t1 - t0, Duration::from_millis(100));
        // Anchored on the first event: a later call does not drift.
        tokio::time::advance(Duration::from_secs(5)).await;
        let t2 = p.due(121_000_000).expect("paced");
        assert_eq!(t2 - t0, Duration::from_millis(200));
        // Earlier than the anchor: due at the anchor, never before.
        assert_eq!(p.due(0).expect("paced"), t0);
    }
}
