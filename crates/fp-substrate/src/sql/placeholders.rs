//! `$1..$n` placeholders everywhere: SQL is written once in PostgreSQL's style and translated
//! to SQLite's numbered `?N` form.
//!
//! SQLite would also accept `$1`, but as a *named* parameter numbered by first appearance, so
//! `... $2 ... $1` would bind the wrong values; `?N` keeps the number. Quoted literals,
//! quoted identifiers and comments are copied untouched.

use std::borrow::Cow;

/// Rewrite `$N` to `?N` outside quotes and comments.
pub(crate) fn to_sqlite(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    // Start of the not-yet-copied run; everything is ASCII-delimited so slicing at these
    // byte offsets always lands on char boundaries.
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        // A doubled quote is an escaped quote, not the end.
                        if bytes.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push_str(&sql[copied..i]);
                out.push('?');
                i += 1;
                copied = i;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translates_outside_literals_only() {
        assert_eq!(
            to_sqlite("SELECT $1, $12 FROM t WHERE a = $2"),
            "SELECT ?1, ?12 FROM t WHERE a = ?2"
        );
        assert_eq!(
            to_sqlite("SELECT '$1', 'it''s $2', \"$3\" , $4"),
            "SELECT '$1', 'it''s $2', \"$3\" , ?4"
        );
        assert_eq!(
            to_sqlite("SELECT $1 -- $2\n, /* $3 */ $4"),
            "SELECT ?1 -- $2\n, /* $3 */ ?4"
        );
        assert_eq!(
            to_sqlite("SELECT 'caf\u{e9} $1' || $1"),
            "SELECT 'caf\u{e9} $1' || ?1"
        );
        assert_eq!(to_sqlite("SELECT $ || $a"), "SELECT $ || $a");
        assert_eq!(
            to_sqlite("SELECT 'unterminated $1"),
            "SELECT 'unterminated $1"
        );
    }
}
