//! Values and rows shared by both backends: the five SQLite storage classes, which PostgreSQL
//! columns map onto (BIGINT/INTEGER/SMALLINT/BOOLEAN → `Int`, DOUBLE PRECISION/REAL → `Real`,
//! TEXT/VARCHAR → `Text`, BYTEA → `Blob`, integral NUMERIC such as `SUM(bigint)` → `Int`).

use std::sync::Arc;

use super::error::SqlError;

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// NULL.
    Null,
    /// A 64-bit signed integer.
    Int(i64),
    /// A double. NaN is not portable (SQLite stores it as NULL).
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl SqlValue {
    /// Storage-class name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Int(_) => "integer",
            Self::Real(_) => "real",
            Self::Text(_) => "text",
            Self::Blob(_) => "blob",
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for SqlValue {
            fn from(v: $t) -> Self {
                Self::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        Self::Int(i64::from(v))
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}

impl From<f32> for SqlValue {
    fn from(v: f32) -> Self {
        Self::Real(f64::from(v))
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        Self::Blob(v)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        Self::Blob(v.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(Self::Null, Into::into)
    }
}

/// Conversion out of a [`SqlValue`], failing with the expected type's name.
pub trait FromSqlValue: Sized {
    /// The type's name in errors.
    const EXPECTED: &'static str;
    /// Convert, or `None` when the value has another type.
    fn from_sql_value(value: &SqlValue) -> Option<Self>;
}

impl FromSqlValue for i64 {
    const EXPECTED: &'static str = "integer";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Int(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromSqlValue for u64 {
    const EXPECTED: &'static str = "non-negative integer";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }
}

impl FromSqlValue for i32 {
    const EXPECTED: &'static str = "32-bit integer";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Int(v) => i32::try_from(*v).ok(),
            _ => None,
        }
    }
}

impl FromSqlValue for bool {
    const EXPECTED: &'static str = "boolean (0 or 1)";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Int(0) => Some(false),
            SqlValue::Int(1) => Some(true),
            _ => None,
        }
    }
}

impl FromSqlValue for f64 {
    const EXPECTED: &'static str = "real";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Real(v) => Some(*v),
            _ => None,
        }
    }
}

impl FromSqlValue for String {
    const EXPECTED: &'static str = "text";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl FromSqlValue for Vec<u8> {
    const EXPECTED: &'static str = "blob";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Blob(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl FromSqlValue for SqlValue {
    const EXPECTED: &'static str = "any value";
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        Some(value.clone())
    }
}

impl<T: FromSqlValue> FromSqlValue for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    fn from_sql_value(value: &SqlValue) -> Option<Self> {
        match value {
            SqlValue::Null => Some(None),
            other => T::from_sql_value(other).map(Some),
        }
    }
}

/// A column by position (`0`-based) or by name.
pub trait ColumnIndex {
    /// The position in `columns`, or `None`.
    fn position(&self, columns: &[String]) -> Option<usize>;
    /// How to name the column in errors.
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
    fn describe(&self) -> String {
        format!("#{self}")
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[String]) -> Option<usize> {
        columns.iter().position(|c| c == self)
    }
    fn describe(&self) -> String {
        (*self).to_owned()
    }
}

/// One result row: column names (shared by all rows of a result) and values.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlRow {
    columns: Arc<[String]>,
    values: Vec<SqlValue>,
}

impl SqlRow {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<SqlValue>) -> Self {
        Self { columns, values }
    }

    /// Column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Values, in column order.
    pub fn values(&self) -> &[SqlValue] {
        &self.values
    }

    /// Number of columns.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The raw value of a column.
    pub fn value<I: ColumnIndex>(&self, column: I) -> Result<&SqlValue, SqlError> {
        column
            .position(&self.columns)
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| SqlError::ColumnNotFound {
                column: column.describe(),
            })
    }

    /// A column converted to `T`; use `Option<T>` for nullable columns.
    pub fn get<T: FromSqlValue, I: ColumnIndex>(&self, column: I) -> Result<T, SqlError> {
        let value = self.value(&column)?;
        T::from_sql_value(value).ok_or_else(|| SqlError::ColumnType {
            column: column.describe(),
            expected: T::EXPECTED,
            found: value.type_name().to_owned(),
        })
    }

    /// An integer column.
    pub fn get_i64<I: ColumnIndex>(&self, column: I) -> Result<i64, SqlError> {
        self.get(column)
    }

    /// A real column.
    pub fn get_f64<I: ColumnIndex>(&self, column: I) -> Result<f64, SqlError> {
        self.get(column)
    }

    /// A text column.
    pub fn get_string<I: ColumnIndex>(&self, column: I) -> Result<String, SqlError> {
        self.get(column)
    }

    /// A text column, borrowed.
    pub fn get_str<I: ColumnIndex>(&self, column: I) -> Result<&str, SqlError> {
        match self.value(&column)? {
            SqlValue::Text(s) => Ok(s),
            other => Err(SqlError::ColumnType {
                column: column.describe(),
                expected: "text",
                found: other.type_name().to_owned(),
            }),
        }
    }

    /// A blob column.
    pub fn get_blob<I: ColumnIndex>(&self, column: I) -> Result<Vec<u8>, SqlError> {
        self.get(column)
    }
}

impl<I: ColumnIndex> ColumnIndex for &I {
    fn position(&self, columns: &[String]) -> Option<usize> {
        (**self).position(columns)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SqlRow {
        SqlRow::new(
            vec!["n".to_owned(), "s".to_owned(), "z".to_owned()].into(),
            vec![SqlValue::Int(5), SqlValue::from("x"), SqlValue::Null],
        )
    }

    #[test]
    fn typed_getters_report_instead_of_panicking() {
        let r = row();
        assert_eq!(r.get_i64("n").ok(), Some(5));
        assert_eq!(r.get_i64(0).ok(), Some(5));
        assert_eq!(r.get_str("s").ok(), Some("x"));
        assert_eq!(r.get::<Option<i64>, _>("z").ok(), Some(None));
        assert!(matches!(
            r.get_i64("s"),
            Err(SqlError::ColumnType { ref column, expected: "integer", .. }) if column == "s"
        ));
        assert!(matches!(
            r.get_i64(9),
            Err(SqlError::ColumnNotFound { ref column }) if column == "#9"
        ));
        assert!(matches!(
            r.get_i64("nope"),
            Err(SqlError::ColumnNotFound { .. })
        ));
        assert!(r.get::<bool, _>("n").is_err());
    }

    #[test]
    fn conversions_in() {
        assert_eq!(SqlValue::from(true), SqlValue::Int(1));
        assert_eq!(SqlValue::from(None::<i64>), SqlValue::Null);
        assert_eq!(SqlValue::from(&b"ab"[..]), SqlValue::Blob(b"ab".to_vec()));
    }
}
