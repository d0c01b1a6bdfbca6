//! Validating a publication and writing it as an immutable snapshot.
//!
//! A provider publishes a base library from CSV or Parquet. Every row is checked before
//! anything is written: identifiers parse with their check characters, identity columns agree
//! with the citizen ID, enumerated columns hold known values, keys are unique. One bad row
//! rejects the whole publication and the answer names the rows (data rows counted from 1,
//! the CSV header not counted). Only a clean input is sorted by key and written, into a
//! staging directory the caller then moves into place; so nothing is ever half published.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::compute::{
    CastOptions, cast_with_options, concat_batches, sort_to_indices, take_record_batch,
};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Field, Schema, SchemaRef};
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tongban_schemas::library::{
    CREDIT_RECORD_TYPES, CREDIT_STATUSES, ENTITY_STATUSES, PERSON_STATUSES,
};
use tongban_schemas::{BaseLibrary, CitizenId, DivisionCode, Uscc, layout};

use crate::CatalogError;

/// At most this many row errors are reported; the total is always counted.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Rows per Parquet file of a snapshot.
pub const ROWS_PER_FILE: usize = 1 << 20;

/// Marital status codes of GB/T 2261.2-2003.
pub const MARITAL_STATUS_CODES: [&str; 8] = ["10", "20", "21", "22", "23", "30", "40", "90"];

/// One rejected cell or row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Data row, counted from 1 (a CSV header is not counted).
    pub row: u64,
    /// The column at fault.
    pub column: String,
    /// Stable code of the rule that failed, e.g. `id.check_character`.
    pub code: String,
    /// One-line reason.
    pub message: String,
}

/// The format of a publication's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// UTF-8 CSV with a header row naming the columns.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl InputFormat {
    /// Guesses the format from a file's name or its first bytes (`PAR1`).
    pub fn detect(path: &Path) -> Result<InputFormat, CatalogError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => return Ok(InputFormat::Csv),
            Some("parquet") => return Ok(InputFormat::Parquet),
            _ => {}
        }
        let mut magic = [0u8; 4];
        let mut file = File::open(path)?;
        let n = file.read(&mut magic)?;
        Ok(if n == 4 && &magic == b"PAR1" {
            InputFormat::Parquet
        } else {
            InputFormat::Csv
        })
    }
}

/// A validated snapshot written to a staging directory, ready to be moved into place.
#[derive(Debug, Clone, Serialize)]
pub struct PreparedSnapshot {
    /// The library the snapshot belongs to.
    pub library: BaseLibrary,
    /// Number of rows.
    pub rows: u64,
    /// File names inside the staging directory, in key order.
    pub files: Vec<String>,
    /// Total size of the files in bytes.
    pub bytes: u64,
    /// SHA-256 over the files' contents in order, hex.
    pub sha256: String,
}

/// Validates `inputs` as a publication of `library` and writes it into `staging_dir`.
///
/// `today` bounds birth dates and other dates that may not lie in the future. The staging
/// directory must exist and be empty; on error it may hold partial files the caller removes.
pub fn prepare(
    library: BaseLibrary,
    inputs: &[PathBuf],
    today: NaiveDate,
    staging_dir: &Path,
) -> Result<PreparedSnapshot, CatalogError> {
    if inputs.is_empty() {
        return Err(CatalogError::EmptyPublication);
    }
    let schema = library.schema();
    let mut typed = Vec::new();
    let mut errors = Errors::default();
    let mut row_offset = 0u64;
    for input in inputs {
        let raw = match InputFormat::detect(input)? {
            InputFormat::Csv => read_csv(input, &schema)?,
            InputFormat::Parquet => read_parquet(input, &schema)?,
        };
        for batch in raw {
            let batch = conform(&batch, &schema, row_offset, &mut errors)?;
            validate(library, &batch, row_offset, today, &mut errors);
            row_offset += batch.num_rows() as u64;
            typed.push(batch);
        }
    }
    if row_offset == 0 {
        return Err(CatalogError::EmptyPublication);
    }
    errors.into_result()?;

    // Conversion kept every column nullable so bad rows could be reported; validation has
    // proved required columns complete, so the batch now takes the library schema itself.
    let nullable = typed[0].schema();
    let all = concat_batches(&nullable, &typed)?;
    drop(typed);
    let all = RecordBatch::try_new(schema.clone(), all.columns().to_vec())?;
    let key_index = schema.index_of(library.key_column())?;
    let order = sort_to_indices(all.column(key_index), None, None)?;
    let sorted = take_record_batch(&all, &order)?;
    check_unique(library, &sorted, &order, key_index)?;
    drop(all);

    let parts: Vec<RecordBatch> = (0..sorted.num_rows())
        .step_by(ROWS_PER_FILE)
        .map(|start| sorted.slice(start, ROWS_PER_FILE.min(sorted.num_rows() - start)))
        .collect();
    let names: Vec<String> = (0..parts.len())
        .map(|i| format!("part-{i:05}.parquet"))
        .collect();
    parts.into_par_iter().zip(names.par_iter()).try_for_each(
        |(part, name)| -> Result<(), CatalogError> {
            layout::write_parquet(&staging_dir.join(name), [part], library)?;
            Ok(())
        },
    )?;

    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    for name in &names {
        let mut file = File::open(staging_dir.join(name))?;
        bytes += std::io::copy(&mut file, &mut hasher)?;
    }
    Ok(PreparedSnapshot {
        library,
        rows: sorted.num_rows() as u64,
        files: names,
        bytes,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Row errors collected across the whole input.
#[derive(Debug, Default)]
struct Errors {
    total: u64,
    reported: Vec<RowError>,
}

impl Errors {
    fn push(&mut self, row: u64, column: &str, code: &str, message: impl Into<String>) {
        self.total += 1;
        if self.reported.len() < MAX_REPORTED_ERRORS {
            self.reported.push(RowError {
                row,
                column: column.to_owned(),
                code: code.to_owned(),
                message: message.into(),
            });
        }
    }

    fn into_result(self) -> Result<(), CatalogError> {
        if self.total == 0 {
            Ok(())
        } else {
            Err(CatalogError::InvalidRows {
                total: self.total,
                errors: self.reported,
            })
        }
    }
}

/// Reads a CSV file with every column as text, after checking its header names exactly the
/// library's columns (in any order).
fn read_csv(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>, CatalogError> {
    let mut file = File::open(path)?;
    let mut header = String::new();
    BufReader::new(&mut file)
        .read_line(&mut header)
        .map_err(|_| CatalogError::UnreadableInput("the CSV file is not UTF-8 text".into()))?;
    let header = header
        .trim_start_matches('\u{feff}')
        .trim_end_matches(['\r', '\n']);
    let columns: Vec<String> = header
        .split(',')
        .map(|c| c.trim().trim_matches('"').to_owned())
        .collect();
    check_columns(schema, &columns)?;
    file.seek(SeekFrom::Start(0))?;
    let text_schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let reader = arrow::csv::ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_batch_size(65_536)
        .build(file)
        .map_err(|e| CatalogError::UnreadableInput(csv_message(&e)))?;
    reader
        .map(|b| b.map_err(|e| CatalogError::UnreadableInput(csv_message(&e))))
        .collect()
}

fn csv_message(e: &arrow::error::ArrowError) -> String {
    match e {
        arrow::error::ArrowError::CsvError(m) => {
            format!("malformed CSV: {}", m.chars().take(200).collect::<String>())
        }
        _ => "malformed CSV".to_owned(),
    }
}

fn read_parquet(path: &Path, schema: &SchemaRef) -> Result<Vec<RecordBatch>, CatalogError> {
    let file = File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|_| CatalogError::UnreadableInput("not a readable Parquet file".into()))?;
    let columns: Vec<String> = builder
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    check_columns(schema, &columns)?;
    let reader = builder
        .with_batch_size(65_536)
        .build()
        .map_err(|_| CatalogError::UnreadableInput("not a readable Parquet file".into()))?;
    reader
        .map(|b| b.map_err(|_| CatalogError::UnreadableInput("corrupt Parquet data".into())))
        .collect()
}

fn check_columns(schema: &SchemaRef, columns: &[String]) -> Result<(), CatalogError> {
    let want: BTreeSet<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let have: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
    let missing: Vec<String> = want.difference(&have).map(|s| s.to_string()).collect();
    let unexpected: Vec<String> = have.difference(&want).map(|s| s.to_string()).collect();
    let duplicated = have.len() != columns.len();
    if missing.is_empty() && unexpected.is_empty() && !duplicated {
        Ok(())
    } else {
        Err(CatalogError::WrongColumns {
            missing,
            unexpected,
            duplicated,
        })
    }
}

/// Casts a batch to the library schema, recording every cell that does not convert and every
/// missing value in a required column. Empty text counts as missing.
fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    offset: u64,
    errors: &mut Errors,
) -> Result<RecordBatch, CatalogError> {
    let options = CastOptions {
        safe: true,
        ..Default::default()
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let source = batch
            .column_by_name(field.name())
            .expect("columns were checked against the schema before conversion");
        let source = blank_to_null(source)?;
        let target = if source.data_type() == field.data_type() {
            source.clone()
        } else {
            cast_with_options(&source, field.data_type(), &options).map_err(|_| {
                CatalogError::UnreadableInput(format!(
                    "column {} cannot be read as {}",
                    field.name(),
                    field.data_type()
                ))
            })?
        };
        for i in 0..target.len() {
            let row = offset + i as u64 + 1;
            if target.is_null(i) {
                if source.is_valid(i) {
                    errors.push(
                        row,
                        field.name(),
                        "value.type",
                        format!("not a valid {}", type_name(field.data_type())),
                    );
                } else if !field.is_nullable() {
                    errors.push(row, field.name(), "value.missing", "a value is required");
                }
            }
        }
        columns.push(target);
    }
    let nullable = Arc::new(Schema::new_with_metadata(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
        schema.metadata().clone(),
    ));
    let batch = RecordBatch::try_new(nullable, columns)?;
    Ok(batch)
}

/// Replaces empty or all-blank strings with nulls in text columns.
fn blank_to_null(array: &ArrayRef) -> Result<ArrayRef, CatalogError> {
    if let Some(strings) = array.as_string_opt::<i32>()
        && strings.iter().flatten().any(|s| s.trim().is_empty())
    {
        let cleaned: StringArray = strings
            .iter()
            .map(|v| v.filter(|s| !s.trim().is_empty()))
            .collect();
        return Ok(Arc::new(cleaned));
    }
    Ok(array.clone())
}

fn type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Date32 => "date (YYYY-MM-DD)",
        DataType::Timestamp(..) => "timestamp (YYYY-MM-DDTHH:MM:SS+08:00)",
        DataType::Decimal128(..) => "decimal number",
        _ => "value",
    }
}

/// Row-level rules of each library.
fn validate(
    library: BaseLibrary,
    batch: &RecordBatch,
    offset: u64,
    today: NaiveDate,
    errors: &mut Errors,
) {
    let cols = Columns { batch };
    for i in 0..batch.num_rows() {
        let row = offset + i as u64 + 1;
        match library {
            BaseLibrary::Population => validate_person(&cols, i, row, today, errors),
            BaseLibrary::LegalEntity => validate_entity(&cols, i, row, today, errors),
            BaseLibrary::CreditRecord => validate_credit(&cols, i, row, errors),
        }
    }
}

struct Columns<'a> {
    batch: &'a RecordBatch,
}

impl Columns<'_> {
    fn text(&self, name: &str, i: usize) -> Option<&str> {
        let col = self.batch.column_by_name(name)?.as_string_opt::<i32>()?;
        col.is_valid(i).then(|| col.value(i))
    }

    fn date(&self, name: &str, i: usize) -> Option<NaiveDate> {
        let col = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<Date32Type>()?;
        col.is_valid(i).then(|| col.value_as_date(i)).flatten()
    }

    fn decimal(&self, name: &str, i: usize) -> Option<i128> {
        let col = self
            .batch
            .column_by_name(name)?
            .as_primitive_opt::<Decimal128Type>()?;
        col.is_valid(i).then(|| col.value(i))
    }
}

fn one_of(errors: &mut Errors, row: u64, column: &str, value: Option<&str>, allowed: &[&str]) {
    if let Some(v) = value
        && !allowed.contains(&v)
    {
        errors.push(
            row,
            column,
            "value.unknown",
            format!("`{}` is not one of {}", clip(v), allowed.join(" / ")),
        );
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

fn validate_person(c: &Columns<'_>, i: usize, row: u64, today: NaiveDate, errors: &mut Errors) {
    let id = c
        .text("citizen_id", i)
        .and_then(|v| match CitizenId::parse_as_of(v, today) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(row, "citizen_id", e.code(), e.to_string());
                None
            }
        });
    if let Some(id) = &id {
        if let Some(g) = c.text("gender_code", i)
            && g != id.gender().code()
        {
            errors.push(
                row,
                "gender_code",
                "person.gender_mismatch",
                format!("gender code {} disagrees with the citizen ID", clip(g)),
            );
        }
        if let Some(b) = c.date("birth_date", i)
            && b != id.birth_date()
        {
            errors.push(
                row,
                "birth_date",
                "person.birth_date_mismatch",
                format!("birth date {b} disagrees with the citizen ID"),
            );
        }
    }
    if let Some(code) = c.text("household_division_code", i)
        && let Err(e) = DivisionCode::parse(code)
    {
        errors.push(row, "household_division_code", e.code(), e.to_string());
    }
    if let Some(e) = c.text("ethnicity_code", i) {
        let known = e.len() == 2
            && e.parse::<u8>()
                .is_ok_and(|n| (1..=56).contains(&n) || n == 97 || n == 98);
        if !known {
            errors.push(
                row,
                "ethnicity_code",
                "value.unknown",
                format!("`{}` is not a GB 3304 ethnicity code", clip(e)),
            );
        }
    }
    one_of(
        errors,
        row,
        "marital_status_code",
        c.text("marital_status_code", i),
        &MARITAL_STATUS_CODES,
    );
    let status = c.text("person_status", i);
    one_of(errors, row, "person_status", status, &PERSON_STATUSES);
    match (status, c.date("death_date", i)) {
        (Some("死亡"), None) => errors.push(
            row,
            "death_date",
            "person.death_date_missing",
            "a deceased person needs a death date",
        ),
        (Some(s), Some(_)) if s != "死亡" => errors.push(
            row,
            "death_date",
            "person.death_date_unexpected",
            "only a deceased person has a death date",
        ),
        (_, Some(d)) if (d > today || id.as_ref().is_some_and(|id| d < id.birth_date())) => {
            errors.push(
                row,
                "death_date",
                "person.death_date_range",
                format!("death date {d} is before birth or in the future"),
            );
        }
        _ => {}
    }
    if let Some(spouse) = c.text("spouse_citizen_id", i) {
        match CitizenId::parse(spouse) {
            Err(e) => errors.push(row, "spouse_citizen_id", e.code(), e.to_string()),
            Ok(s) if id.as_ref().is_some_and(|id| *id == s) => errors.push(
                row,
                "spouse_citizen_id",
                "person.self_spouse",
                "a person cannot be their own spouse",
            ),
            Ok(_) => {}
        }
    }
}

fn validate_entity(c: &Columns<'_>, i: usize, row: u64, today: NaiveDate, errors: &mut Errors) {
    if let Some(v) = c.text("uscc", i)
        && let Err(e) = Uscc::parse(v)
    {
        errors.push(row, "uscc", e.code(), e.to_string());
    }
    if let Some(v) = c.text("legal_rep_id_number", i)
        && let Err(e) = CitizenId::parse_as_of(v, today)
    {
        errors.push(row, "legal_rep_id_number", e.code(), e.to_string());
    }
    if let Some(v) = c.text("address_division_code", i)
        && let Err(e) = DivisionCode::parse(v)
    {
        errors.push(row, "address_division_code", e.code(), e.to_string());
    }
    one_of(errors, row, "status", c.text("status", i), &ENTITY_STATUSES);
    if c.decimal("registered_capital", i).is_some_and(|v| v < 0) {
        errors.push(
            row,
            "registered_capital",
            "value.range",
            "registered capital cannot be negative",
        );
    }
    let established = c.date("established_date", i);
    if established.is_some_and(|d| d > today) {
        errors.push(
            row,
            "established_date",
            "value.range",
            "the establishment date lies in the future",
        );
    }
    if let (Some(from), Some(to)) = (established, c.date("term_to", i))
        && to < from
    {
        errors.push(
            row,
            "term_to",
            "value.range",
            "the term ends before the entity was established",
        );
    }
}

fn validate_credit(c: &Columns<'_>, i: usize, row: u64, errors: &mut Errors) {
    one_of(
        errors,
        row,
        "record_type",
        c.text("record_type", i),
        &CREDIT_RECORD_TYPES,
    );
    one_of(errors, row, "status", c.text("status", i), &CREDIT_STATUSES);
    let uscc = c.text("subject_uscc", i);
    let person = c.text("subject_id_number", i);
    match (uscc, person) {
        (None, None) => errors.push(
            row,
            "subject_uscc",
            "credit.subject_missing",
            "a record names its subject by USCC or citizen ID",
        ),
        (Some(_), Some(_)) => errors.push(
            row,
            "subject_id_number",
            "credit.subject_ambiguous",
            "a record names one subject, not two",
        ),
        _ => {}
    }
    if let Some(v) = uscc
        && let Err(e) = Uscc::parse(v)
    {
        errors.push(row, "subject_uscc", e.code(), e.to_string());
    }
    if let Some(v) = person
        && let Err(e) = CitizenId::parse(v)
    {
        errors.push(row, "subject_id_number", e.code(), e.to_string());
    }
    if let (Some(decided), Some(end)) =
        (c.date("decision_date", i), c.date("publicity_end_date", i))
        && end < decided
    {
        errors.push(
            row,
            "publicity_end_date",
            "value.range",
            "publicity ends before the decision date",
        );
    }
}

/// Rejects duplicate keys; `order` maps sorted positions back to input rows for the report.
fn check_unique(
    library: BaseLibrary,
    sorted: &RecordBatch,
    order: &arrow::array::UInt32Array,
    key_index: usize,
) -> Result<(), CatalogError> {
    let keys = sorted.column(key_index).as_string::<i32>();
    let mut errors = Errors::default();
    for i in 1..keys.len() {
        if keys.value(i) == keys.value(i - 1) {
            let (a, b) = (order.value(i - 1) as u64 + 1, order.value(i) as u64 + 1);
            errors.push(
                a.max(b),
                library.key_column(),
                "key.duplicate",
                format!(
                    "key {} already appears in row {}",
                    clip(keys.value(i)),
                    a.min(b)
                ),
            );
        }
    }
    errors.into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEADER: &str = "citizen_id,name,gender_code,ethnicity_code,birth_date,household_division_code,household_address,residence_address,marital_status_code,spouse_citizen_id,person_status,death_date,updated_at";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).expect("valid date")
    }

    fn csv(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("input.csv");
        let mut f = File::create(&path).expect("create");
        writeln!(f, "{HEADER}").expect("write");
        f.write_all(body.as_bytes()).expect("write");
        path
    }

    fn staging(dir: &Path) -> PathBuf {
        let s = dir.join("staging");
        std::fs::create_dir_all(&s).expect("mkdir");
        s
    }

    #[test]
    fn a_clean_csv_is_sorted_and_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = csv(
            dir.path(),
            "210202198511150027,王芳,2,01,1985-11-15,210202,辽宁省大连市中山区人民路1号,辽宁省大连市中山区人民路1号,20,,正常,,2026-01-01T08:00:00+08:00\n\
             110101199003070011,张伟,1,01,1990-03-07,110101,北京市东城区景山街1号,北京市东城区景山街1号,10,,正常,,2026-01-01T08:00:00+08:00\n",
        );
        let out = staging(dir.path());
        let snap = prepare(BaseLibrary::Population, &[input], today(), &out)
            .expect("publication is valid");
        assert_eq!(snap.rows, 2);
        assert_eq!(snap.files, vec!["part-00000.parquet"]);
        let file = File::open(out.join(&snap.files[0])).expect("written");
        let batch = ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader")
            .next()
            .expect("one batch")
            .expect("batch");
        let ids = batch.column(0).as_string::<i32>();
        assert_eq!(ids.value(0), "110101199003070011", "sorted by key");
    }

    #[test]
    fn bad_rows_are_named_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = csv(
            dir.path(),
            "110101199003070011,张伟,1,01,1990-03-07,110101,北京市东城区,北京市东城区,10,,正常,,2026-01-01T08:00:00+08:00\n\
             110101199003070012,李四,1,01,1990-03-07,110101,北京市东城区,北京市东城区,10,,正常,,2026-01-01T08:00:00+08:00\n\
             210202198511150027,王芳,1,01,1985-11-15,210202,大连,大连,20,,正常,,2026-01-01T08:00:00+08:00\n\
             13100219980621124X,赵六,2,01,1998-13-01,131002,廊坊,廊坊,10,,外星,,2026-01-01T08:00:00+08:00\n",
        );
        let out = staging(dir.path());
        let err =
            prepare(BaseLibrary::Population, &[input], today(), &out).expect_err("invalid rows");
        let CatalogError::InvalidRows { total, errors } = err else {
            panic!("expected row errors, got {err:?}")
        };
        let rows: Vec<(u64, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert!(rows.contains(&(2, "citizen_id")), "{rows:?}");
        assert!(rows.contains(&(3, "gender_code")), "{rows:?}");
        assert!(rows.contains(&(4, "birth_date")), "{rows:?}");
        assert!(rows.contains(&(4, "person_status")), "{rows:?}");
        assert_eq!(total as usize, errors.len());
        assert_eq!(
            std::fs::read_dir(&out).expect("staging").count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn wrong_columns_and_duplicates_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("wrong.csv");
        std::fs::write(
            &path,
            "citizen_id,name,shoe_size\n110101199003070011,张伟,42\n",
        )
        .expect("write");
        let err = prepare(
            BaseLibrary::Population,
            &[path],
            today(),
            &staging(dir.path()),
        )
        .expect_err("wrong columns");
        let CatalogError::WrongColumns {
            missing,
            unexpected,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert!(missing.contains(&"birth_date".to_owned()));
        assert_eq!(unexpected, vec!["shoe_size".to_owned()]);

        let row = "110101199003070011,张伟,1,01,1990-03-07,110101,北京,北京,10,,正常,,2026-01-01T08:00:00+08:00\n";
        let input = csv(dir.path(), &format!("{row}{row}"));
        let err = prepare(
            BaseLibrary::Population,
            &[input],
            today(),
            &staging(dir.path()),
        )
        .expect_err("duplicate");
        let CatalogError::InvalidRows { errors, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(errors[0].code, "key.duplicate");
        assert_eq!(errors[0].row, 2);
    }

    #[test]
    fn empty_and_malformed_inputs_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = csv(dir.path(), "");
        assert!(matches!(
            prepare(
                BaseLibrary::Population,
                &[empty],
                today(),
                &staging(dir.path())
            ),
            Err(CatalogError::EmptyPublication)
        ));
        let ragged = csv(dir.path(), "110101199003070011,张伟\n");
        assert!(matches!(
            prepare(
                BaseLibrary::Population,
                &[ragged],
                today(),
                &staging(dir.path())
            ),
            Err(CatalogError::UnreadableInput(_))
        ));
        let garbage = dir.path().join("x.parquet");
        std::fs::write(&garbage, b"PAR1 not really").expect("write");
        assert!(matches!(
            prepare(
                BaseLibrary::Population,
                &[garbage],
                today(),
                &staging(dir.path())
            ),
            Err(CatalogError::UnreadableInput(_))
        ));
    }
}
