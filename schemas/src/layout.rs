//! The Parquet layout of a base library, tuned so that a lookup by key reads one small page.
//!
//! Departments mostly ask "the record of this citizen ID / this USCC", not "scan everything".
//! A Parquet reader answers such a question cheaply only if the file lets it skip: row groups
//! by their min/max statistics, pages by the page index (column index + offset index), and
//! absent keys by a bloom filter. So every file Tongban publishes — generated or uploaded and
//! validated by the catalogue — is written by [`writer_properties`]:
//!
//! - **Sorted by the key** (and the `sorting_columns` metadata says so), so each page covers a
//!   narrow, disjoint key range and min/max pruning finds the one page that can hold a key.
//! - **Small pages** ([`DATA_PAGE_BYTES`], at most [`DATA_PAGE_ROWS`] rows): a lookup decodes
//!   one page per projected column, so page size is read amplification. 8 KiB holds a few
//!   hundred keys; smaller pages would make the page index itself the larger cost.
//! - **Page-level statistics**, which is what makes the writer emit the column index and the
//!   offset index (the "page index") next to the footer.
//! - **No dictionary on the key or on near-unique text** (names, addresses, IDs): such a
//!   dictionary is as large as the data and must be read in full before the one page that
//!   matters. Low-cardinality columns (codes, statuses, authority names, business scopes) keep
//!   dictionary encoding, where it is a few kilobytes and shrinks the data several times.
//! - **Bloom filters** on the key and the library's secondary keys
//!   ([`BaseLibrary::secondary_keys`]), 1% false positives, sized for one row group, so an
//!   absent ID costs a few hundred bytes instead of a page decode, and a lookup by a secondary
//!   key (spouse, legal representative, credit subject) skips row groups that lack it.
//! - **Parquet 1.0 pages with PLAIN encoding** for the non-dictionary columns: the most widely
//!   readable layout, and a lookup decodes a page of a few hundred independent values. (Format
//!   2.0 with delta encodings made files 18% smaller in our measurement, but its prefix-coded
//!   key pages hold about 1,500 keys that must be decoded in sequence.)
//! - **Snappy compression**: it decodes at gigabytes per second, so a page read is dominated by
//!   I/O, while still shrinking the Chinese text about threefold. zstd level 1 made the files
//!   26% smaller in our measurement (59 instead of 80 MiB per million people) but decodes
//!   several times slower; for a lookup of a few 4 KiB pages either is microseconds, and Snappy
//!   keeps full scans cheaper. (The workspace builds Parquet with `snap` and `zstd` only, so
//!   LZ4_RAW is not available.)
//! - **Row groups of [`ROW_GROUP_ROWS`] rows**: small enough that one row group's bloom
//!   filters and column index are cheap to fetch, large enough that ten million people make
//!   under a hundred of them.
//!
//! Writing is atomic: [`ParquetSink`] writes to a hidden temporary file in the destination
//! directory, fsyncs it, renames it into place and fsyncs the directory, so a crash or an error
//! never leaves a half-written file under the final name.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use arrow::array::{Array, RecordBatch};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::error::ArrowError;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::schema::types::ColumnPath;

use crate::library::BaseLibrary;

/// Rows per row group.
pub const ROW_GROUP_ROWS: usize = 131_072;

/// Target size of a data page before compression.
pub const DATA_PAGE_BYTES: usize = 8 * 1024;

/// Most rows in one data page; bounds the pages of dictionary-encoded columns, whose values
/// are a byte or two each, so that a lookup still decodes a small page there too.
pub const DATA_PAGE_ROWS: usize = 2_048;

/// False-positive rate of the bloom filters.
pub const BLOOM_FILTER_FPP: f64 = 0.01;

/// Columns with few distinct values per row group, which keep dictionary encoding.
pub fn dictionary_columns(library: BaseLibrary) -> &'static [&'static str] {
    match library {
        BaseLibrary::Population => &[
            "gender_code",
            "ethnicity_code",
            "household_division_code",
            "marital_status_code",
            "person_status",
        ],
        BaseLibrary::LegalEntity => &[
            "entity_type",
            "address_division_code",
            "business_scope",
            "reg_authority_name",
            "status",
        ],
        BaseLibrary::CreditRecord => &["record_type", "authority_name", "status"],
    }
}

/// Writer properties of a library's Parquet files; see the module documentation for why.
pub fn writer_properties(library: BaseLibrary) -> WriterProperties {
    let schema = library.schema();
    let key = library.key_column();
    let key_index = schema
        .index_of(key)
        .expect("every library schema contains its key column (unit-tested in `library`)");
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_size_limit(DATA_PAGE_BYTES)
        .set_data_page_row_count_limit(DATA_PAGE_ROWS)
        .set_write_batch_size(DATA_PAGE_ROWS)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_dictionary_enabled(false)
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: i32::try_from(key_index).expect("schemas have a handful of columns"),
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("tongban-schemas {}", env!("CARGO_PKG_VERSION")));
    for column in dictionary_columns(library) {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(*column), true);
    }
    for column in std::iter::once(&key).chain(library.secondary_keys()) {
        let path = ColumnPath::from(*column);
        builder = builder
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FILTER_FPP)
            // Sized for a full row group of distinct values; the writer folds the filter down
            // to the values it actually saw.
            .set_column_bloom_filter_max_ndv(path, ROW_GROUP_ROWS as u64);
    }
    builder.build()
}

/// Why a Parquet file could not be written or a batch could not be laid out.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The batch's columns do not fit the library's schema (caller's data).
    #[error("the batch does not match the {library} schema: {source}")]
    Schema {
        library: BaseLibrary,
        #[source]
        source: ArrowError,
    },
    /// The batch is not sorted by the library's key (caller's data).
    #[error("{library} rows are not in strictly increasing `{column}` order at row {row}")]
    Unsorted {
        library: BaseLibrary,
        column: &'static str,
        row: usize,
    },
    /// The file system refused (operator).
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The Parquet encoder failed (operator, or a bug in the encoder).
    #[error("cannot encode {}: {source}", path.display())]
    Parquet {
        path: PathBuf,
        #[source]
        source: ParquetError,
    },
}

/// An open, not yet visible Parquet file of one library.
///
/// Batches must arrive in key order; [`ParquetSink::finish`] makes the file appear under its
/// name. Dropping a sink without finishing removes the temporary file.
#[derive(Debug)]
pub struct ParquetSink {
    library: BaseLibrary,
    path: PathBuf,
    temp: PathBuf,
    writer: Option<ArrowWriter<BufWriter<File>>>,
    rows: u64,
}

impl ParquetSink {
    /// Starts writing `path` (its directory must exist) with [`writer_properties`].
    pub fn create(path: &Path, library: BaseLibrary) -> Result<ParquetSink, LayoutError> {
        let io_err = |source| LayoutError::Io {
            path: path.to_owned(),
            source,
        };
        let file_name = path
            .file_name()
            .ok_or_else(|| io_err(io::Error::new(io::ErrorKind::InvalidInput, "no file name")))?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(".tmp");
        let temp = path.with_file_name(temp_name);
        let file = File::create(&temp).map_err(io_err)?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            library.schema(),
            Some(writer_properties(library)),
        )
        .map_err(|source| LayoutError::Parquet {
            path: path.to_owned(),
            source,
        });
        match writer {
            Ok(writer) => Ok(ParquetSink {
                library,
                path: path.to_owned(),
                temp,
                writer: Some(writer),
                rows: 0,
            }),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Appends a batch. Its columns must match the library schema (names, types and
    /// nullability; field metadata may differ).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), LayoutError> {
        let batch = RecordBatch::try_new(self.library.schema(), batch.columns().to_vec()).map_err(
            |source| LayoutError::Schema {
                library: self.library,
                source,
            },
        )?;
        let writer = self
            .writer
            .as_mut()
            .expect("a sink holds its writer until finish");
        writer
            .write(&batch)
            .map_err(|source| LayoutError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file, fsyncs it, renames it into place and fsyncs the directory.
    /// Returns the number of rows.
    pub fn finish(mut self) -> Result<u64, LayoutError> {
        let writer = self
            .writer
            .take()
            .expect("a sink holds its writer until finish");
        let parquet_err = |source| LayoutError::Parquet {
            path: self.path.clone(),
            source,
        };
        let io_err = |source| LayoutError::Io {
            path: self.path.clone(),
            source,
        };
        let buffered = writer.into_inner().map_err(parquet_err)?;
        let file = buffered.into_inner().map_err(|e| io_err(e.into_error()))?;
        file.sync_all().map_err(io_err)?;
        drop(file);
        fs::rename(&self.temp, &self.path).map_err(io_err)?;
        sync_parent(&self.path).map_err(io_err)?;
        Ok(self.rows)
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        if self.writer.is_some() {
            // Not finished: the temporary file is incomplete and must not linger.
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Makes a rename durable by fsyncing the directory that holds it.
fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Writes `batches` (already in key order) to `path` atomically; returns the row count.
pub fn write_parquet(
    path: &Path,
    batches: impl IntoIterator<Item = RecordBatch>,
    library: BaseLibrary,
) -> Result<u64, LayoutError> {
    let mut sink = ParquetSink::create(path, library)?;
    for batch in batches {
        sink.write(&batch)?;
    }
    sink.finish()
}

/// Sorts a batch by the library's key (ascending, nulls last) with Arrow's sort kernels.
pub fn sort_by_key(batch: &RecordBatch, library: BaseLibrary) -> Result<RecordBatch, ArrowError> {
    let key = batch.column_by_name(library.key_column()).ok_or_else(|| {
        ArrowError::SchemaError(format!(
            "the batch has no `{}` column, the key of {library}",
            library.key_column()
        ))
    })?;
    let indices = lexsort_to_indices(
        &[SortColumn {
            values: key.clone(),
            options: Some(SortOptions {
                descending: false,
                nulls_first: false,
            }),
        }],
        None,
    )?;
    take_record_batch(batch, &indices)
}

/// Checks that the key column of `batch` is non-null and strictly increasing (so sorted and
/// unique), the precondition of [`write_parquet`] for lookups to be correct.
pub fn check_sorted(batch: &RecordBatch, library: BaseLibrary) -> Result<(), LayoutError> {
    let column = library.key_column();
    let schema_err = |message: String| LayoutError::Schema {
        library,
        source: ArrowError::SchemaError(message),
    };
    let key = batch
        .column_by_name(column)
        .ok_or_else(|| schema_err(format!("no `{column}` column")))?;
    let key = key
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .ok_or_else(|| schema_err(format!("`{column}` is not a Utf8 column")))?;
    if let Some(row) = (0..key.len()).find(|&i| key.is_null(i)) {
        return Err(LayoutError::Unsorted {
            library,
            column,
            row,
        });
    }
    for row in 1..key.len() {
        if key.value(row - 1) >= key.value(row) {
            return Err(LayoutError::Unsorted {
                library,
                column,
                row,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, StringArray};
    use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
    use parquet::basic::Encoding;
    use parquet::file::metadata::PageIndexPolicy;

    use super::*;

    fn credit_batch(ids: &[&str]) -> RecordBatch {
        let schema = BaseLibrary::CreditRecord.schema();
        let n = ids.len();
        let columns: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|field| -> ArrayRef {
                match field.name().as_str() {
                    "record_id" => Arc::new(StringArray::from(ids.to_vec())),
                    "subject_uscc" | "subject_id_number" | "valid_to" | "publicity_end_date" => {
                        arrow::array::new_null_array(field.data_type(), n)
                    }
                    _ => match field.data_type() {
                        arrow::datatypes::DataType::Utf8 => {
                            Arc::new(StringArray::from(vec!["x"; n]))
                        }
                        arrow::datatypes::DataType::Date32 => {
                            Arc::new(arrow::array::Date32Array::from(vec![19_000; n]))
                        }
                        _ => Arc::new(
                            arrow::array::TimestampMillisecondArray::from(vec![0; n])
                                .with_timezone(crate::library::TIME_ZONE),
                        ),
                    },
                }
            })
            .collect();
        RecordBatch::try_new(schema, columns).expect("test batch matches the schema")
    }

    #[test]
    fn sort_by_key_sorts_and_check_sorted_agrees() {
        let batch = credit_batch(&["CR3", "CR1", "CR2"]);
        assert!(matches!(
            check_sorted(&batch, BaseLibrary::CreditRecord),
            Err(LayoutError::Unsorted { row: 1, .. })
        ));
        let sorted = sort_by_key(&batch, BaseLibrary::CreditRecord).expect("sorts");
        check_sorted(&sorted, BaseLibrary::CreditRecord).expect("sorted");
        let dup = credit_batch(&["CR1", "CR1"]);
        assert!(check_sorted(&dup, BaseLibrary::CreditRecord).is_err());
    }

    #[test]
    fn written_files_have_the_lookup_layout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("part-00000.parquet");
        let ids: Vec<String> = (0..5_000).map(|i| format!("CR{i:012}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let rows =
            write_parquet(&path, [credit_batch(&ids)], BaseLibrary::CreditRecord).expect("writes");
        assert_eq!(rows, 5_000);
        let names: Vec<_> = fs::read_dir(dir.path()).expect("lists").collect();
        assert_eq!(names.len(), 1, "no temporary file is left behind");

        let file = File::open(&path).expect("opens");
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            file,
            ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required),
        )
        .expect("reads metadata");
        let meta = builder.metadata();
        assert!(meta.column_index().is_some(), "column index written");
        assert!(meta.offset_index().is_some(), "offset index written");
        let row_group = meta.row_group(0);
        let key = row_group.column(0);
        assert_eq!(key.column_path().string(), "record_id");
        assert!(!key.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert!(key.bloom_filter_offset().is_some());
        let pages = &meta.offset_index().expect("offset index")[0][0];
        assert!(pages.page_locations().len() > 1, "small pages");
        let sorting = row_group
            .sorting_columns()
            .expect("sorting columns recorded");
        assert_eq!(sorting[0].column_idx, 0);
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("part-00000.parquet");
        let mut sink = ParquetSink::create(&path, BaseLibrary::CreditRecord).expect("creates");
        let wrong = RecordBatch::try_new(
            Arc::new(arrow::datatypes::Schema::new(vec![
                arrow::datatypes::Field::new("record_id", arrow::datatypes::DataType::Utf8, false),
            ])),
            vec![Arc::new(StringArray::from(vec!["CR1"]))],
        )
        .expect("batch");
        assert!(matches!(
            sink.write(&wrong),
            Err(LayoutError::Schema { .. })
        ));
        drop(sink);
        assert_eq!(fs::read_dir(dir.path()).expect("lists").count(), 0);
    }
}
