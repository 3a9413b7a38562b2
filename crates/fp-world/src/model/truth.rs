//! Truth products: the flow's truth label, the bank's view (detection, disputes, chargebacks,
//! false positives, with realistic delays and disagreement) and the case lifecycle.

use super::campaigns::Template;
use crate::rng::{Domain, Stream};
use crate::timefmt::{US_DAY, US_H, US_MIN};

/// Truth label vocabulary.
pub const LEGIT: &str = "LEGIT";
/// Fraud.
pub const FRAUD: &str = "FRAUD";
/// Abuse (friendly fraud).
pub const ABUSE: &str = "ABUSE";

/// Case event types by slot (0..=5).
pub const CASE_EVENT_TYPES: [&str; 6] = [
    "CASE_OPENED",
    "DETECTION_EVENT_ATTACHED",
    "CUSTOMER_DISPUTE_FILED",
    "CHARGEBACK_INITIATED",
    "CHARGEBACK_DECISION",
    "CASE_CLOSED",
];

/// Bank labels that count as fraud in the bank's view.
pub const BANK_FRAUD_LABELS: [&str; 2] = ["BANK_CONFIRMED_FRAUD", "CHARGEBACK_WRITTEN_OFF"];

/// The truth and bank outcome of one flow.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `LEGIT`, `FRAUD` or `ABUSE`.
    pub fraud_label: &'static str,
    /// Bank label.
    pub bank_label: &'static str,
    /// Case events `(slot, ts_us)`, empty when no case was opened.
    pub case: Vec<(u8, i64)>,
}

/// Decide the outcome of a flow at `ts_us` touched by `template` (or none).
pub fn outcome(
    root: u64,
    flow_id: i64,
    ts_us: i64,
    template: Option<Template>,
    friendly_p: f64,
) -> Outcome {
    let mut r = Stream::new(root, Domain::Flow, flow_id as u64);
    let mut case: Vec<(u8, i64)> = Vec::new();
    let fraud_label = match template {
        Some(_) => FRAUD,
        None if r.chance(friendly_p) => ABUSE,
        None => LEGIT,
    };
    let bank_label = match fraud_label {
        FRAUD => {
            let p_detect = match template {
                Some(Template::LargeAmount) => 0.85,
                Some(Template::AccountTakeover) => 0.70,
                Some(Template::CompromisedCard) => 0.65,
                Some(Template::CardTesting) => 0.55,
                _ => 0.45,
            };
            if r.chance(p_detect) {
                let t = ts_us + (r.exp(120.0) * US_MIN as f64) as i64 + US_MIN;
                case.push((0, t));
                case.push((1, t));
                case.push((5, t + (r.range_f(1.0, 10.0) * US_DAY as f64) as i64));
                "BANK_CONFIRMED_FRAUD"
            } else if r.chance(0.7) {
                dispute(&mut r, ts_us, &mut case, 0.85)
            } else {
                "NO_CASE_OPENED"
            }
        }
        ABUSE => dispute(&mut r, ts_us, &mut case, 0.5),
        _ => {
            if r.chance(0.002) {
                let t = ts_us + (r.exp(60.0) * US_MIN as f64) as i64 + US_MIN;
                case.push((0, t));
                case.push((1, t));
                case.push((5, t + (r.range_f(0.5, 5.0) * US_DAY as f64) as i64));
                if r.chance(0.3) {
                    "BANK_CONFIRMED_FRAUD"
                } else {
                    "BANK_CONFIRMED_LEGIT"
                }
            } else {
                "BANK_CONFIRMED_LEGIT"
            }
        }
    };
    Outcome {
        fraud_label,
        bank_label,
        case,
    }
}

/// A customer dispute days after the flow, usually followed by a chargeback.
fn dispute(
    r: &mut Stream,
    ts_us: i64,
    case: &mut Vec<(u8, i64)>,
    p_bank_loss: f64,
) -> &'static str {
    let t_dispute = ts_us + (r.range_f(3.0, 45.0) * US_DAY as f64) as i64;
    case.push((0, t_dispute));
    case.push((2, t_dispute));
    if r.chance(0.8) {
        let t_cb = t_dispute + (r.range_f(1.0, 5.0) * US_DAY as f64) as i64;
        let t_dec = t_cb + (r.range_f(10.0, 40.0) * US_DAY as f64) as i64;
        case.push((3, t_cb));
        case.push((4, t_dec));
        case.push((
            5,
            t_dec + (r.range_f(0.0, 3.0) * US_DAY as f64) as i64 + US_H,
        ));
        if r.chance(p_bank_loss) {
            "CHARGEBACK_WRITTEN_OFF"
        } else {
            "CUSTOMER_DISPUTE_REJECTED"
        }
    } else {
        case.push((5, t_dispute + (r.range_f(2.0, 20.0) * US_DAY as f64) as i64));
        "CUSTOMER_DISPUTE_REJECTED"
    }
}
