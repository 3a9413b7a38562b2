//! Canonical JSON exactly as the Python reference implementation hashes it.
//!
//! Every id and hash of the platform is a sha256 over bytes produced here, so these bytes must
//! match Python's `json.dumps(v, sort_keys=True, ensure_ascii=True, separators=(",", ":"))`
//! (the compact form, "CJ") or `json.dumps(v, sort_keys=True)` (the loose form the Scenario
//! Runner uses, "CJ-SR") byte for byte:
//!
//! * object keys sorted by code point (Rust's byte order on UTF-8 is the same order);
//! * every character outside printable ASCII escaped as `\uXXXX` (lowercase hex, UTF-16
//!   surrogate pairs above U+FFFF); `"`, `\`, `\n`, `\r`, `\t`, `\b`, `\f` use short escapes;
//! * integers as integers, floats in Python `repr` form (`1.0`, `25.99`, `1e+16`, `1e-05`).
//!
//! `serde_json` itself neither escapes non-ASCII nor formats floats like Python, which is why
//! this module exists. It never relies on the map order of `serde_json::Map`.

use serde::Serialize;
use serde_json::{Number, Value};

/// Which of the two reference encodings to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `separators=(",", ":")`: the encoding almost every hash uses.
    Compact,
    /// Python's default separators `", "` and `": "`: used by the Scenario Runner's ledger
    /// hashes (`intent_fingerprint`, `plan_hash`, run-record `event_id`, ...).
    Loose,
}

/// Errors raised while canonicalising a value.
#[derive(Debug, thiserror::Error)]
pub enum CanonicalError {
    /// The value could not be represented as JSON (e.g. a map with non-string keys).
    #[error("value is not representable as canonical JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// Compact canonical JSON ("CJ") of a JSON value.
pub fn cj(value: &Value) -> String {
    encode(value, Style::Compact)
}

/// Loose canonical JSON ("CJ-SR") of a JSON value.
pub fn cj_sr(value: &Value) -> String {
    encode(value, Style::Loose)
}

/// Canonical JSON of any serialisable value (goes through `serde_json::Value` first).
pub fn to_canonical<T: Serialize + ?Sized>(
    value: &T,
    style: Style,
) -> Result<String, CanonicalError> {
    let value = serde_json::to_value(value)?;
    Ok(encode(&value, style))
}

/// Encode `value` in the requested style.
pub fn encode(value: &Value, style: Style) -> String {
    let mut out = String::with_capacity(128);
    write_value(&mut out, value, style);
    out
}

fn write_value(out: &mut String, value: &Value, style: Style) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_separator(style));
                }
                write_value(out, item, style);
            }
            out.push(']');
        }
        Value::Object(map) => write_map(out, map, style),
    }
}

/// Append the canonical encoding of an object to `out`.
pub fn write_map_to(out: &mut String, map: &serde_json::Map<String, Value>, style: Style) {
    write_map(out, map, style);
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, style: Style) {
    // Sort explicitly: the map's own order depends on serde_json features that another
    // crate in the build may switch on (`preserve_order`).
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (key, item)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(item_separator(style));
        }
        write_string(out, key);
        out.push_str(match style {
            Style::Compact => ":",
            Style::Loose => ": ",
        });
        write_value(out, item, style);
    }
    out.push('}');
}

fn item_separator(style: Style) -> &'static str {
    match style {
        Style::Compact => ",",
        Style::Loose => ", ",
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else if let Some(f) = n.as_f64() {
        out.push_str(&python_float_repr(f));
    } else {
        // Only reachable with serde_json's arbitrary_precision: keep the literal.
        out.push_str(&n.to_string());
    }
}

/// Python's `repr(float)` (and `json.dumps` of a float): the shortest digits that round-trip,
/// fixed notation when the decimal exponent is in `[-4, 16)`, scientific otherwise, with a
/// signed exponent of at least two digits.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddddde<exp>`.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp10: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // Python's `decpt`: value = 0.d1d2... * 10^decpt
    let decpt = exp10 + 1;
    let mut out = String::with_capacity(24);
    if f.is_sign_negative() {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = decpt - 1;
        out.push('e');
        out.push(if e < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", e.abs()));
    } else if decpt <= 0 {
        out.push_str("0.");
        for _ in 0..(-decpt) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if decpt >= n {
        out.push_str(&digits);
        for _ in 0..(decpt - n) {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let split = decpt as usize;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    }
    out
}

/// Append a JSON string literal with Python's `ensure_ascii=True` escaping to `out`.
pub fn write_str_to(out: &mut String, s: &str) {
    write_string(out, s);
}

/// A JSON string literal with Python's `ensure_ascii=True` escaping.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: copy runs of printable ASCII that need no escaping in one go.
    let bytes = s.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        let run = bytes[start..]
            .iter()
            .position(|&b| !(0x20..=0x7e).contains(&b) || b == b'"' || b == b'\\')
            .unwrap_or(bytes.len() - start);
        out.push_str(&s[start..start + run]);
        start += run;
        if start >= bytes.len() {
            break;
        }
        // `start` is at a char boundary: the run stopped at an ASCII byte or a lead byte.
        let c = s[start..].chars().next().unwrap_or('\u{fffd}');
        start += c.len_utf8();
        escape_char(out, c);
    }
    out.push('"');
}

fn escape_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{08}' => out.push_str("\\b"),
        '\u{0c}' => out.push_str("\\f"),
        ' '..='~' => out.push(c),
        _ => {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_u_escape(out, *unit);
            }
        }
    }
}

fn push_u_escape(out: &mut String, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_sorts_keys_and_drops_whitespace() {
        let v = json!({"b": 1, "a": [true, null, "x"], "c": {"z": 1.5, "y": -2}});
        assert_eq!(
            cj(&v),
            r#"{"a":[true,null,"x"],"b":1,"c":{"y":-2,"z":1.5}}"#
        );
    }

    #[test]
    fn loose_uses_python_default_separators() {
        let v = json!({"b": [1, 2], "a": {}});
        assert_eq!(cj_sr(&v), r#"{"a": {}, "b": [1, 2]}"#);
    }

    #[test]
    fn ascii_escapes_match_python() {
        // json.dumps("é\u2028😀\x7f\x01\"\\/\n", ensure_ascii=True)
        let v = json!("é\u{2028}😀\u{7f}\u{01}\"\\/\n\t\u{08}\u{0c}\r");
        assert_eq!(
            cj(&v),
            r#""\u00e9\u2028\ud83d\ude00\u007f\u0001\"\\/\n\t\b\f\r""#
        );
    }

    #[test]
    fn float_repr_matches_python() {
        // Expected values produced by CPython 3.11 `repr(float(x))`.
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (25.99, "25.99"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (-2.5e300, "-2.5e+300"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (100.0, "100.0"),
            (1234.5678, "1234.5678"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(*f), *want, "repr({f:?})");
        }
    }

    #[test]
    fn integers_stay_integers_and_floats_keep_their_point() {
        let v: Value = serde_json::from_str(r#"{"i": 18446744073709551615, "n": -5, "f": 1e2}"#)
            .expect("valid json");
        assert_eq!(cj(&v), r#"{"f":100.0,"i":18446744073709551615,"n":-5}"#);
    }
}
