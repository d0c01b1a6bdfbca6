//! Query results as JSON, CSV or an Arrow IPC stream.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use crate::error::ApiError;

/// The format a client asked for with `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (default).
    Json,
    /// `text/csv`.
    Csv,
    /// `application/vnd.apache.arrow.stream`.
    Arrow,
}

impl Format {
    /// Chooses from an `Accept` header; anything unknown gets JSON.
    pub fn from_accept(accept: Option<&str>) -> Format {
        let accept = accept.unwrap_or("");
        if accept.contains("application/vnd.apache.arrow.stream") {
            Format::Arrow
        } else if accept.contains("text/csv") {
            Format::Csv
        } else {
            Format::Json
        }
    }

    /// Name for the access record.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
        }
    }

    /// Response content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => "application/vnd.apache.arrow.stream",
        }
    }
}

/// Rows of a batch as JSON arrays: numbers stay numbers, everything else is its text.
pub fn json_rows(batch: &RecordBatch) -> Result<Vec<Value>, ApiError> {
    let options = FormatOptions::default().with_null("");
    let formatters: Vec<ArrayFormatter<'_>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::Internal(format!("result formatting: {e}")))?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let mut row = Vec::with_capacity(batch.num_columns());
        for (c, column) in batch.columns().iter().enumerate() {
            row.push(cell(column, i, &formatters[c]));
        }
        rows.push(Value::Array(row));
    }
    Ok(rows)
}

fn cell(column: &ArrayRef, i: usize, formatter: &ArrayFormatter<'_>) -> Value {
    if column.is_null(i) {
        return Value::Null;
    }
    use arrow::datatypes::*;
    let number = match column.data_type() {
        DataType::Int8 => Some(Number::from(column.as_primitive::<Int8Type>().value(i))),
        DataType::Int16 => Some(Number::from(column.as_primitive::<Int16Type>().value(i))),
        DataType::Int32 => Some(Number::from(column.as_primitive::<Int32Type>().value(i))),
        DataType::Int64 => Some(Number::from(column.as_primitive::<Int64Type>().value(i))),
        DataType::UInt8 => Some(Number::from(column.as_primitive::<UInt8Type>().value(i))),
        DataType::UInt16 => Some(Number::from(column.as_primitive::<UInt16Type>().value(i))),
        DataType::UInt32 => Some(Number::from(column.as_primitive::<UInt32Type>().value(i))),
        DataType::UInt64 => Some(Number::from(column.as_primitive::<UInt64Type>().value(i))),
        DataType::Float32 => {
            Number::from_f64(f64::from(column.as_primitive::<Float32Type>().value(i)))
        }
        DataType::Float64 => Number::from_f64(column.as_primitive::<Float64Type>().value(i)),
        DataType::Boolean => return Value::Bool(column.as_boolean().value(i)),
        _ => None,
    };
    match number {
        Some(n) => Value::Number(n),
        None => Value::String(formatter.value(i).to_string()),
    }
}

/// The JSON answer: `{"columns", "rows", "row_count", "audit_id", …}`.
pub fn json_body(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    audit_id: &str,
    truncated: bool,
) -> Result<Vec<u8>, ApiError> {
    let mut rows = Vec::new();
    for batch in batches {
        rows.extend(json_rows(batch)?);
    }
    let mut body = Map::new();
    body.insert(
        "columns".into(),
        Value::Array(
            schema
                .fields()
                .iter()
                .map(|f| Value::String(f.name().clone()))
                .collect(),
        ),
    );
    body.insert(
        "types".into(),
        Value::Array(
            schema
                .fields()
                .iter()
                .map(|f| Value::String(f.data_type().to_string()))
                .collect(),
        ),
    );
    body.insert("row_count".into(), Value::from(rows.len()));
    body.insert("rows".into(), Value::Array(rows));
    body.insert("truncated".into(), Value::Bool(truncated));
    body.insert("audit_id".into(), Value::String(audit_id.to_owned()));
    serde_json::to_vec(&Value::Object(body))
        .map_err(|e| ApiError::Internal(format!("result encoding: {e}")))
}

/// CSV with a header row.
pub fn csv_body(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut out);
        if batches.is_empty() {
            writer
                .write(&RecordBatch::new_empty(schema.clone()))
                .map_err(|e| ApiError::Internal(format!("csv encoding: {e}")))?;
        }
        for batch in batches {
            writer
                .write(batch)
                .map_err(|e| ApiError::Internal(format!("csv encoding: {e}")))?;
        }
    }
    Ok(out)
}

/// An Arrow IPC stream.
pub fn arrow_body(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    {
        let mut writer = arrow::ipc::writer::StreamWriter::try_new(&mut out, schema)
            .map_err(|e| ApiError::Internal(format!("arrow encoding: {e}")))?;
        for batch in batches {
            writer
                .write(batch)
                .map_err(|e| ApiError::Internal(format!("arrow encoding: {e}")))?;
        }
        writer
            .finish()
            .map_err(|e| ApiError::Internal(format!("arrow encoding: {e}")))?;
    }
    Ok(out)
}
