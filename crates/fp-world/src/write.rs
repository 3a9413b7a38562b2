//! Deterministic Parquet writing: ZSTD level 3, fixed row-group size, fixed `created_by`, no
//! wall-clock metadata. A zero-row table still yields one file carrying the full schema.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::Path;

use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

use crate::WorldError;
use crate::tables::Table;

/// Rows per row group (and per written batch slice).
pub const ROW_GROUP_ROWS: usize = 131_072;
/// `created_by` of every file.
pub const CREATED_BY: &str = "fp-world 0.1 (parquet-rs 57)";

fn props() -> Result<WriterProperties, WorldError> {
    let level =
        ZstdLevel::try_new(3).map_err(|e| WorldError::Internal(format!("zstd level: {e}")))?;
    Ok(WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by(CREATED_BY.to_owned())
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .build())
}

/// Write `table` to `path` (parents created).
pub fn write_table(table: &Table, path: &Path) -> Result<(), WorldError> {
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
    let mut w = ArrowWriter::try_new(BufWriter::new(file), table.batch.schema(), Some(props()?))
        .map_err(pq)?;
    let n = table.batch.num_rows();
    let mut off = 0;
    while off < n {
        let len = ROW_GROUP_ROWS.min(n - off);
        w.write(&table.batch.slice(off, len)).map_err(pq)?;
        off += len;
    }
    let inner = w.into_inner().map_err(pq)?;
    let file = inner.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(())
}
