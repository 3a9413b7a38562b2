//! Deterministic Parquet writing: ZSTD level 1, fixed row-group size, fixed `created_by`, no
//! wall-clock metadata. A zero-row table still yields one file carrying the full schema.
//!
//! Dictionary encoding is kept for the columns that repeat (identity columns, zones, types,
//! labels, merchants, small counters) and turned off for the columns whose values are all or
//! mostly distinct (ids, timestamps, amounts): there a dictionary only costs a hash per value
//! before the writer falls back to plain encoding anyway. Hash-derived id columns are not
//! compressed (they are random bits).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;
use sha2::{Digest, Sha256};

use crate::WorldError;
use crate::tables::Table;

/// Rows per row group (and per written batch slice).
pub const ROW_GROUP_ROWS: usize = 131_072;
/// `created_by` of every file.
pub const CREATED_BY: &str = "fp-world 0.1 (parquet-rs 57)";
/// ZSTD level of every file.
pub const ZSTD_LEVEL: i32 = 1;

/// Columns written without a dictionary: (nearly) every value distinct.
const PLAIN_COLUMNS: [&str; 15] = [
    "flow_id",
    "ts_utc",
    "ts_local_primary",
    "ts_local_settlement",
    "ts_local_operational",
    "party_id",
    "account_id",
    "instrument_id",
    "device_id",
    "ip_id",
    "session_id",
    "session_start_utc",
    "session_end_utc",
    "amount",
    "case_id",
];

/// Columns of hash-derived ids (uniformly random 63-bit values): no compressor gains on
/// them, so they are stored uncompressed rather than spending ZSTD's time.
const RANDOM_COLUMNS: [&str; 3] = ["flow_id", "session_id", "case_id"];

/// The writer settings of every file fp-world writes (world outputs and stream views), for
/// a file of `schema`: the same rows always give the same bytes.
pub fn writer_properties(schema: &Schema) -> Result<WriterProperties, String> {
    let level = ZstdLevel::try_new(ZSTD_LEVEL).map_err(|e| format!("zstd level: {e}"))?;
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by(CREATED_BY.to_owned())
        .set_statistics_enabled(EnabledStatistics::Chunk);
    for f in schema.fields() {
        let name = f.name().as_str();
        if PLAIN_COLUMNS.contains(&name) {
            b = b.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
        if RANDOM_COLUMNS.contains(&name) {
            b = b.set_column_compression(ColumnPath::from(name), Compression::UNCOMPRESSED);
        }
    }
    Ok(b.build())
}

/// The writer settings of a stream view: those of [`writer_properties`], plus `ts_utc`
/// delta-encoded (`DELTA_BYTE_ARRAY`): the view is in `ts_utc` order, so each timestamp
/// shares most of its text with the one before and is stored as the differing suffix.
pub fn view_writer_properties(schema: &Schema) -> Result<WriterProperties, String> {
    let mut b = writer_properties(schema)?.into_builder();
    if schema.field_with_name("ts_utc").is_ok() {
        b = b.set_column_encoding(ColumnPath::from("ts_utc"), Encoding::DELTA_BYTE_ARRAY);
    }
    Ok(b.build())
}

/// A writer that hashes (sha256) and counts every byte it passes on.
pub struct HashingWriter<W: Write> {
    inner: W,
    sha: Sha256,
    len: u64,
}

impl<W: Write> HashingWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            sha: Sha256::new(),
            len: 0,
        }
    }

    /// The inner writer, the hex sha256 and the length of everything written.
    pub fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.sha.finalize()), self.len)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encode `batch` in row groups of [`ROW_GROUP_ROWS`] into `out`.
pub fn encode_into<W: Write + Send>(
    batch: &RecordBatch,
    out: W,
) -> Result<W, parquet::errors::ParquetError> {
    let props =
        writer_properties(batch.schema_ref()).map_err(parquet::errors::ParquetError::General)?;
    let mut w = ArrowWriter::try_new(out, batch.schema(), Some(props))?;
    let n = batch.num_rows();
    let mut off = 0;
    while off < n {
        let len = ROW_GROUP_ROWS.min(n - off);
        w.write(&batch.slice(off, len))?;
        off += len;
    }
    w.into_inner()
}

/// Write `table` to `path` (parents created).
pub fn write_table(table: &Table, path: &Path) -> Result<(), WorldError> {
    write_table_digest(table, path).map(|_| ())
}

/// Write `table` to `path` (parents created, file synced); returns the file's hex sha256.
pub fn write_table_digest(table: &Table, path: &Path) -> Result<String, WorldError> {
    let io = |e: std::io::Error| WorldError::Io {
        path: path.display().to_string(),
        source: e,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let file = File::create(path).map_err(io)?;
    let pq = |e: parquet::errors::ParquetError| WorldError::Parquet {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let out = encode_into(&table.batch, out).map_err(pq)?;
    let (inner, sha, _) = out.finish();
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(sha)
}
