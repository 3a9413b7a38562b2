//! Stream-view rows written straight from their Arrow columns as the envelope's JSON payload,
//! without building a `serde_json::Map` per row: decoding every row into owned keys and
//! values was most of the producer's own cost. The bytes are exactly those of serialising
//! [`fp_world::oracle::row_to_json`]'s map (keys in sorted order, serde_json's number and
//! string forms), which a test checks on every row of a generated world.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, UInt64Type};
use arrow_array::{
    Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::DataType;

use super::error::WspError;

/// One typed column of a batch.
enum Column<'a> {
    Utf8(&'a StringArray),
    Int64(&'a Int64Array),
    UInt64(&'a UInt64Array),
    Float64(&'a Float64Array),
    Boolean(&'a BooleanArray),
}

/// Writes the rows of one record batch as JSON objects.
pub struct RowWriter<'a> {
    /// `(pre-escaped "name":, column)` in key order.
    columns: Vec<(Vec<u8>, Column<'a>)>,
    /// Column index by name, for keys and `ts_utc`.
    names: Vec<&'a str>,
}

impl<'a> RowWriter<'a> {
    /// A writer over `batch`'s columns; an unsupported column type is an error naming it.
    pub fn new(batch: &'a RecordBatch, output_id: &str) -> Result<Self, WspError> {
        let schema = batch.schema_ref();
        let mut cols: Vec<(&'a str, Column<'a>)> = Vec::with_capacity(batch.num_columns());
        for (f, c) in schema.fields().iter().zip(batch.columns()) {
            let column = match c.data_type() {
                DataType::Utf8 => Column::Utf8(c.as_string::<i32>()),
                DataType::Int64 => Column::Int64(c.as_primitive::<Int64Type>()),
                DataType::UInt64 => Column::UInt64(c.as_primitive::<UInt64Type>()),
                DataType::Float64 => Column::Float64(c.as_primitive::<Float64Type>()),
                DataType::Boolean => Column::Boolean(c.as_boolean()),
                other => {
                    return Err(WspError::BadColumn {
                        output_id: output_id.to_owned(),
                        column: f.name().clone(),
                        detail: format!("unsupported column type {other}"),
                    });
                }
            };
            cols.push((f.name().as_str(), column));
        }
        // serde_json's default map is ordered by key: keep its order, byte for byte.
        cols.sort_by(|a, b| a.0.cmp(b.0));
        let names = cols.iter().map(|(n, _)| *n).collect();
        let columns = cols
            .into_iter()
            .map(|(name, c)| {
                let mut key = Vec::with_capacity(name.len() + 3);
                // Column names come from the engine's schema: escape them like any string.
                let _ = serde_json::to_writer(&mut key, name);
                key.push(b':');
                (key, c)
            })
            .collect();
        Ok(Self { columns, names })
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    /// Python's `str()` of the value of `name` in `row` (the event-id recipe), `None` when the
    /// column is absent or null.
    pub fn py_str(&self, name: &str, row: usize) -> Option<String> {
        let (_, c) = &self.columns[self.index(name)?];
        if is_null(c, row) {
            return None;
        }
        Some(match c {
            Column::Utf8(a) => a.value(row).to_owned(),
            Column::Int64(a) => a.value(row).to_string(),
            Column::UInt64(a) => a.value(row).to_string(),
            Column::Float64(a) => fp_rails::canonical::python_float_repr(a.value(row)),
            Column::Boolean(a) => if a.value(row) { "True" } else { "False" }.to_owned(),
        })
    }

    /// The string value of `name` in `row`, if it is a non-null string column.
    pub fn str_value(&self, name: &str, row: usize) -> Option<&'a str> {
        match &self.columns[self.index(name)?].1 {
            Column::Utf8(a) if !a.is_null(row) => Some(a.value(row)),
            _ => None,
        }
    }

    /// Append row `row` as a JSON object.
    pub fn write_row(&self, row: usize, out: &mut Vec<u8>) {
        out.push(b'{');
        for (i, (key, c)) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            if is_null(c, row) {
                out.extend_from_slice(b"null");
                continue;
            }
            // Writing into a Vec cannot fail.
            let _ = match c {
                Column::Utf8(a) => serde_json::to_writer(&mut *out, a.value(row)),
                Column::Int64(a) => serde_json::to_writer(&mut *out, &a.value(row)),
                Column::UInt64(a) => serde_json::to_writer(&mut *out, &a.value(row)),
                // Non-finite floats are `null`, as serde_json writes them.
                Column::Float64(a) => serde_json::to_writer(&mut *out, &a.value(row)),
                Column::Boolean(a) => serde_json::to_writer(&mut *out, &a.value(row)),
            };
        }
        out.push(b'}');
    }
}

fn is_null(c: &Column<'_>, row: usize) -> bool {
    match c {
        Column::Utf8(a) => a.is_null(row),
        Column::Int64(a) => a.is_null(row),
        Column::UInt64(a) => a.is_null(row),
        Column::Float64(a) => a.is_null(row),
        Column::Boolean(a) => a.is_null(row),
    }
}
