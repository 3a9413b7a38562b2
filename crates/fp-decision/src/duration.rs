//! Policy durations: `90s`, `5m`, `1h`, `7d` (one integer and one unit), in microseconds,
//! the resolution of `ts_utc`.

/// Microseconds per second.
pub const SECOND_US: i64 = 1_000_000;

/// Why a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a duration (expected a positive integer and one of s, m, h, d, e.g. `5m`)")]
pub struct DurationError(pub String);

/// Parse `<n><unit>` with unit `s`, `m`, `h` or `d` into microseconds (n ≥ 1, at most 10 years).
pub fn parse_duration_us(text: &str) -> Result<i64, DurationError> {
    let err = || DurationError(text.chars().take(40).collect());
    let t = text.trim();
    let unit = t.chars().last().ok_or_else(err)?;
    let secs_per_unit: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(err()),
    };
    let digits = &t[..t.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
        return Err(err());
    }
    let n: i64 = digits.parse().map_err(|_| err())?;
    let us = n
        .checked_mul(secs_per_unit)
        .and_then(|s| s.checked_mul(SECOND_US))
        .ok_or_else(err)?;
    if n == 0 || us > 10 * 366 * 86_400 * SECOND_US {
        return Err(err());
    }
    Ok(us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_policy_units_and_refuses_the_rest() {
        assert_eq!(parse_duration_us("90s"), Ok(90 * SECOND_US));
        assert_eq!(parse_duration_us("5m"), Ok(300 * SECOND_US));
        assert_eq!(parse_duration_us("24h"), Ok(86_400 * SECOND_US));
        assert_eq!(parse_duration_us("30d"), Ok(30 * 86_400 * SECOND_US));
        for bad in [
            "",
            "m",
            "0m",
            "5",
            "5 m",
            "-5m",
            "1.5h",
            "5w",
            "99999999999d",
            "é",
        ] {
            assert!(parse_duration_us(bad).is_err(), "{bad}");
        }
    }
}
