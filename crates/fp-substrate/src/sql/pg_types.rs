//! Value conversions between [`SqlValue`] and PostgreSQL's binary wire formats.

use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};

use super::value::SqlValue;

type BoxError = Box<dyn StdError + Sync + Send>;

/// A parameter whose value does not fit the type PostgreSQL inferred for it.
#[derive(Debug, thiserror::Error)]
#[error("cannot bind a value of type {value} to a PostgreSQL {ty} parameter")]
struct BindError {
    value: &'static str,
    ty: String,
}

fn refuse(value: &SqlValue, ty: &Type) -> BoxError {
    Box::new(BindError {
        value: value.type_name(),
        ty: ty.name().to_owned(),
    })
}

/// Largest integer magnitude a double holds exactly.
const F64_EXACT: i64 = 1 << 53;

/// Binds a [`SqlValue`] to whatever type the server inferred for the parameter, converting
/// only where nothing is lost (an integer into INT4 if it fits, into DOUBLE if exact, ...).
#[derive(Debug)]
pub(crate) struct PgParam<'a>(pub(crate) &'a SqlValue);

impl ToSql for PgParam<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        let value = self.0;
        match value {
            SqlValue::Null => Ok(IsNull::Yes),
            SqlValue::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::OID => u32::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => match v {
                    0 => false.to_sql(ty, out),
                    1 => true.to_sql(ty, out),
                    _ => Err(refuse(value, ty)),
                },
                #[allow(clippy::cast_precision_loss)] // guarded: |v| <= 2^53 is exact
                Type::FLOAT8 if v.abs() <= F64_EXACT => (*v as f64).to_sql(ty, out),
                _ => Err(refuse(value, ty)),
            },
            SqlValue::Real(v) => match *ty {
                Type::FLOAT8 => v.to_sql(ty, out),
                #[allow(clippy::cast_possible_truncation)] // guarded: only exact values pass
                Type::FLOAT4 if f64::from(*v as f32) == *v || v.is_nan() => {
                    (*v as f32).to_sql(ty, out)
                }
                _ => Err(refuse(value, ty)),
            },
            SqlValue::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                // JSON is text on the wire; JSONB adds a version byte.
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                _ => Err(refuse(value, ty)),
            },
            SqlValue::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => Err(refuse(value, ty)),
            },
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Decided per value in `to_sql`, which reports a precise error.
        true
    }

    fn to_sql_checked(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.to_sql(ty, out)
    }
}

/// One result cell decoded into a [`SqlValue`].
pub(crate) struct Cell(pub(crate) SqlValue);

/// Result column types this crate decodes.
pub(crate) fn decodable(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::NUMERIC
            | Type::TEXT
            | Type::VARCHAR
            | Type::BPCHAR
            | Type::NAME
            | Type::UNKNOWN
            | Type::JSON
            | Type::JSONB
            | Type::BYTEA
            | Type::VOID
    )
}

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let text = |raw: &[u8]| -> Result<SqlValue, BoxError> {
            Ok(SqlValue::Text(std::str::from_utf8(raw)?.to_owned()))
        };
        Ok(Self(match *ty {
            Type::BOOL => SqlValue::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::INT2 => SqlValue::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => SqlValue::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => SqlValue::Int(i64::from_sql(ty, raw)?),
            Type::OID => SqlValue::Int(i64::from(u32::from_sql(ty, raw)?)),
            Type::FLOAT4 => SqlValue::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => SqlValue::Real(f64::from_sql(ty, raw)?),
            Type::NUMERIC => decode_numeric(raw)?,
            Type::JSONB => match raw.split_first() {
                Some((1, rest)) => text(rest)?,
                _ => return Err("unsupported JSONB wire version".into()),
            },
            Type::BYTEA => SqlValue::Blob(raw.to_vec()),
            Type::VOID => SqlValue::Null,
            _ => text(raw)?,
        }))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, BoxError> {
        Ok(Self(SqlValue::Null))
    }

    fn accepts(ty: &Type) -> bool {
        decodable(ty)
    }
}

/// NUMERIC's binary form (`ndigits, weight, sign, dscale`, base-10000 digits) as `Int` when
/// it has no scale and fits an i64 (so `SUM(bigint)` reads like SQLite's integer sum), else
/// as the nearest `Real`.
fn decode_numeric(raw: &[u8]) -> Result<SqlValue, BoxError> {
    let word = |i: usize| -> Result<u16, BoxError> {
        raw.get(i * 2..i * 2 + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "truncated NUMERIC".into())
    };
    let ndigits = usize::from(word(0)?);
    let weight = i32::from(word(1)? as i16);
    let sign = word(2)?;
    let dscale = word(3)?;
    match sign {
        0xC000 => return Ok(SqlValue::Real(f64::NAN)),
        0xD000 => return Ok(SqlValue::Real(f64::INFINITY)),
        0xF000 => return Ok(SqlValue::Real(f64::NEG_INFINITY)),
        0x0000 | 0x4000 => {}
        _ => return Err("bad NUMERIC sign".into()),
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|i| word(4 + i))
        .collect::<Result<_, _>>()?;
    let digit = |exp: i32| -> u16 {
        usize::try_from(weight - exp)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    } else {
        text.push_str(&digit(weight).to_string());
        for exp in (0..weight).rev() {
            text.push_str(&format!("{:04}", digit(exp)));
        }
    }
    let ndigits_i32 = i32::try_from(ndigits)?;
    let last_exp = weight - ndigits_i32 + 1;
    if last_exp < 0 {
        text.push('.');
        for exp in (last_exp..0).rev() {
            text.push_str(&format!("{:04}", digit(exp)));
        }
    }
    if dscale == 0
        && let Ok(v) = text.parse::<i64>()
    {
        return Ok(SqlValue::Int(v));
    }
    Ok(SqlValue::Real(text.parse::<f64>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for w in [ndigits, weight as u16, sign, dscale].iter().chain(digits) {
            out.extend_from_slice(&w.to_be_bytes());
        }
        out
    }

    #[test]
    fn numeric_decodes() {
        // 12345678 = 1234 * 10000 + 5678
        assert_eq!(
            decode_numeric(&numeric(2, 1, 0, 0, &[1234, 5678])).ok(),
            Some(SqlValue::Int(12_345_678))
        );
        // -20000 = -(2 * 10000), trailing zero group omitted
        assert_eq!(
            decode_numeric(&numeric(1, 1, 0x4000, 0, &[2])).ok(),
            Some(SqlValue::Int(-20_000))
        );
        // 1.5 = 1 + 5000/10000
        assert_eq!(
            decode_numeric(&numeric(2, 0, 0, 1, &[1, 5000])).ok(),
            Some(SqlValue::Real(1.5))
        );
        // 0.0005 = 5/10000
        assert_eq!(
            decode_numeric(&numeric(1, -1, 0, 4, &[5])).ok(),
            Some(SqlValue::Real(0.0005))
        );
        // 0
        assert_eq!(
            decode_numeric(&numeric(0, 0, 0, 0, &[])).ok(),
            Some(SqlValue::Int(0))
        );
        assert!(decode_numeric(&[0, 1]).is_err());
    }
}
