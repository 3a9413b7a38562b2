//! Progress of long work: one bar per output on a terminal (events, events/s, ETA), periodic
//! log lines on stderr otherwise (CI logs, pipes), never anything on stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fp_ingress::stream_producer::{OutputReport, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the non-terminal form logs.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// WSP progress for the command line.
pub struct StreamProgress {
    bars: Option<(MultiProgress, Mutex<HashMap<String, ProgressBar>>)>,
    lines: Mutex<HashMap<String, LineState>>,
}

struct LineState {
    total: u64,
    done: u64,
    started: Instant,
    last_log: Instant,
}

impl StreamProgress {
    /// Bars when stderr is a terminal and `quiet` is off; log lines otherwise (none if quiet).
    pub fn new(quiet: bool) -> Self {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            (
                MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                Mutex::new(HashMap::new()),
            )
        });
        Self {
            bars,
            lines: Mutex::new(HashMap::new()),
        }
    }

    fn style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{prefix:<32} [{bar:30}] {human_pos:>10}/{human_len:<10} {per_sec:>12} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
    }
}

impl Progress for StreamProgress {
    fn start(&self, output_id: &str, total: u64, resumed_at: u64) {
        if let Some((multi, bars)) = &self.bars {
            let bar = multi.add(ProgressBar::new(total));
            bar.set_style(Self::style());
            bar.set_prefix(output_id.to_owned());
            bar.set_position(resumed_at);
            bar.reset_eta();
            if let Ok(mut b) = bars.lock() {
                b.insert(output_id.to_owned(), bar);
            }
            return;
        }
        if resumed_at > 0 {
            eprintln!("{output_id}: resuming at row {resumed_at} of {total}");
        }
        if let Ok(mut l) = self.lines.lock() {
            let now = Instant::now();
            l.insert(
                output_id.to_owned(),
                LineState {
                    total,
                    done: resumed_at,
                    started: now,
                    last_log: now,
                },
            );
        }
    }

    fn advance(&self, output_id: &str, rows: u64) {
        if let Some((_, bars)) = &self.bars {
            if let Ok(b) = bars.lock()
                && let Some(bar) = b.get(output_id)
            {
                bar.inc(rows);
            }
            return;
        }
        if let Ok(mut l) = self.lines.lock()
            && let Some(s) = l.get_mut(output_id)
        {
            s.done += rows;
            if s.last_log.elapsed() >= LOG_EVERY {
                s.last_log = Instant::now();
                let rate = s.done as f64 / s.started.elapsed().as_secs_f64().max(1e-9);
                eprintln!(
                    "{output_id}: {}/{} rows ({:.0} rows/s)",
                    s.done, s.total, rate
                );
            }
        }
    }

    fn finish(&self, output_id: &str, report: &OutputReport) {
        if let Some((_, bars)) = &self.bars {
            if let Ok(b) = bars.lock()
                && let Some(bar) = b.get(output_id)
            {
                bar.finish();
            }
            return;
        }
        eprintln!(
            "{output_id}: {} sent in {:.1} s (admitted {}, duplicates {}, quarantined {}){}",
            report.sent,
            report.elapsed_s,
            report.tally.admitted,
            report.tally.duplicates,
            report.tally.quarantined,
            if report.complete { "" } else { ", incomplete" }
        );
    }
}
