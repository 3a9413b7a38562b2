//! Reading a Parquet part file back into one record batch.

use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::WorldError;

/// Read the whole file as one batch (the schema is taken from the file).
pub fn read_table(path: &Path) -> Result<RecordBatch, WorldError> {
    let shown = path.display().to_string();
    let pq = |e: parquet::errors::ParquetError| WorldError::Parquet {
        path: shown.clone(),
        detail: e.to_string(),
    };
    let file = File::open(path).map_err(|e| WorldError::Io {
        path: shown.clone(),
        source: e,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let rows = builder.metadata().file_metadata().num_rows().max(1) as usize;
    let schema = builder.schema().clone();
    let reader = builder.with_batch_size(rows).build().map_err(pq)?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| WorldError::Parquet {
            path: shown.clone(),
            detail: e.to_string(),
        })?);
    }
    match batches.len() {
        0 => Ok(RecordBatch::new_empty(schema)),
        1 => Ok(batches.remove(0)),
        _ => Err(WorldError::Parquet {
            path: shown,
            detail: "file yielded several batches".into(),
        }),
    }
}
