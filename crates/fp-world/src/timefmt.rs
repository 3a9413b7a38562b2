//! Fast, allocation-light time rendering: micros since the epoch to the interface's
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ` (and the local-wall form without `Z`), and the fixed-offset
//! time zones the stand-in uses.

/// Micros per second / minute / hour / day.
pub const US_S: i64 = 1_000_000;
/// Micros per minute.
pub const US_MIN: i64 = 60 * US_S;
/// Micros per hour.
pub const US_H: i64 = 60 * US_MIN;
/// Micros per day.
pub const US_DAY: i64 = 24 * US_H;

/// IANA zones with no daylight saving time (as of 2026) and their UTC offset in minutes: the
/// stand-in uses only these so local wall clocks are exact without a tz database.
pub const ZONES: [(&str, i64); 10] = [
    ("Africa/Johannesburg", 120),
    ("Africa/Lagos", 60),
    ("Africa/Nairobi", 180),
    ("America/Bogota", -300),
    ("America/Phoenix", -420),
    ("Asia/Dubai", 240),
    ("Asia/Kolkata", 330),
    ("Asia/Singapore", 480),
    ("Asia/Tokyo", 540),
    ("Etc/UTC", 0),
];

/// UTC offset in minutes of a supported zone.
pub fn zone_offset_min(tzid: &str) -> Option<i64> {
    ZONES.iter().find(|(z, _)| *z == tzid).map(|(_, o)| *o)
}

// Howard Hinnant's days_from_civil / civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parse `YYYY-MM-DD` to days since the epoch.
pub fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let m: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > 31 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    (civil_from_days(days) == (y, m, d)).then_some(days)
}

/// Rendered timestamp bytes: `YYYY-MM-DDTHH:MM:SS.ffffff` (26 bytes) plus an optional `Z`;
/// years outside 0..=9999 are rendered by the slow path.
pub type TsBuf = [u8; 32];

fn put2(b: &mut [u8], at: usize, v: u32) {
    b[at] = b'0' + (v / 10) as u8;
    b[at + 1] = b'0' + (v % 10) as u8;
}

/// Render `us` (local wall or UTC with `z`) into `buf` without allocating; returns the text.
pub fn render_into(us: i64, z: bool, buf: &mut TsBuf) -> &str {
    let days = us.div_euclid(US_DAY);
    let rem = us.rem_euclid(US_DAY);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        let s = render_slow(y, m, d, rem, z);
        let n = s.len().min(buf.len());
        buf[..n].copy_from_slice(&s.as_bytes()[..n]);
        return std::str::from_utf8(&buf[..n]).unwrap_or_default();
    }
    let y = y as u32;
    put2(buf, 0, y / 100);
    put2(buf, 2, y % 100);
    buf[4] = b'-';
    put2(buf, 5, m);
    buf[7] = b'-';
    put2(buf, 8, d);
    buf[10] = b'T';
    put2(buf, 11, (rem / US_H) as u32);
    buf[13] = b':';
    put2(buf, 14, ((rem / US_MIN) % 60) as u32);
    buf[16] = b':';
    put2(buf, 17, ((rem / US_S) % 60) as u32);
    buf[19] = b'.';
    let f = (rem % US_S) as u32;
    put2(buf, 20, f / 10_000);
    put2(buf, 22, (f / 100) % 100);
    put2(buf, 24, f % 100);
    let n = if z {
        buf[26] = b'Z';
        27
    } else {
        26
    };
    std::str::from_utf8(&buf[..n]).unwrap_or_default()
}

/// `ts_utc` text of `us` into `buf`.
pub fn utc_into(us: i64, buf: &mut TsBuf) -> &str {
    render_into(us, true, buf)
}

/// Local wall text of `us` in a zone `offset_min` minutes east of UTC, into `buf`.
pub fn local_into(us: i64, offset_min: i64, buf: &mut TsBuf) -> &str {
    render_into(us + offset_min * US_MIN, false, buf)
}

fn render_slow(y: i64, m: u32, d: u32, rem: i64, z: bool) -> String {
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}{}",
        rem / US_H,
        (rem / US_MIN) % 60,
        (rem / US_S) % 60,
        rem % US_S,
        if z { "Z" } else { "" }
    )
}

fn render(us: i64, z: bool) -> String {
    let mut buf = [0u8; 32];
    render_into(us, z, &mut buf).to_owned()
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` of micros since the epoch.
pub fn ts_utc(us: i64) -> String {
    render(us, true)
}

/// Local wall clock (no `Z`) of `us` in a zone `offset_min` minutes east of UTC.
pub fn ts_local(us: i64, offset_min: i64) -> String {
    render(us + offset_min * US_MIN, false)
}

/// Parse `YYYY-MM-DDTHH:MM:SS.ffffffZ` strictly; `None` on any deviation.
pub fn parse_ts_utc(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 27 || b[26] != b'Z' {
        return None;
    }
    parse_wall(&s[..26])
}

/// Parse `YYYY-MM-DDTHH:MM:SS.ffffff` (local wall) strictly as if UTC.
pub fn parse_wall(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'.' {
        return None;
    }
    if !s[11..13]
        .bytes()
        .chain(s[14..16].bytes())
        .chain(s[17..19].bytes())
        .chain(s[20..26].bytes())
        .all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let days = parse_date(&s[..10])?;
    let h: i64 = s[11..13].parse().ok()?;
    let mi: i64 = s[14..16].parse().ok()?;
    let se: i64 = s[17..19].parse().ok()?;
    let us: i64 = s[20..26].parse().ok()?;
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some(days * US_DAY + h * US_H + mi * US_MIN + se * US_S + us)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_parses() {
        let d = parse_date("2026-03-02").unwrap_or_default();
        let us = d * US_DAY + 8 * US_H + 14 * US_MIN + 5 * US_S + 123_456;
        assert_eq!(ts_utc(us), "2026-03-02T08:14:05.123456Z");
        assert_eq!(parse_ts_utc(&ts_utc(us)), Some(us));
        assert_eq!(ts_local(us, 330), "2026-03-02T13:44:05.123456");
        assert_eq!(ts_local(us, -420), "2026-03-02T01:14:05.123456");
        assert!(parse_date("2026-02-30").is_none());
        let mut b = [0u8; 32];
        assert_eq!(utc_into(us, &mut b), "2026-03-02T08:14:05.123456Z");
        assert_eq!(local_into(us, 330, &mut b), "2026-03-02T13:44:05.123456");
        // Before the epoch and outside four-digit years (slow path).
        assert_eq!(ts_utc(-1), "1969-12-31T23:59:59.999999Z");
        let far = days_from_civil(12_345, 1, 2) * US_DAY + 7;
        assert_eq!(ts_utc(far), "12345-01-02T00:00:00.000007Z");
    }
}
