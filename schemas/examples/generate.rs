//! Generates the synthetic base libraries and reports how long it took.
//!
//! ```text
//! cargo run --release -p tongban-schemas --example generate -- \
//!     --people 1000000 --out /tmp/tongban-data [--seed 42] [--today 2025-06-30] [--show 3]
//! ```
//!
//! `--show N` prints the first N rows of each library's first file, to eyeball the data;
//! `--layout` prints, per column of each library's first file, its encodings, size and pages.

use std::fs::File;
use std::path::PathBuf;
use std::time::Instant;

use arrow::util::pretty::pretty_format_batches;
use chrono::NaiveDate;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tongban_schemas::BaseLibrary;
use tongban_schemas::generate::{GeneratorConfig, generate};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BoxResult<()> {
    let mut people = 100_000usize;
    let mut out: Option<PathBuf> = None;
    let mut seed = 42u64;
    let mut today = NaiveDate::from_ymd_opt(2025, 6, 30).ok_or("default date")?;
    let mut show = 0usize;
    let mut layout = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--people" => people = value()?.replace('_', "").parse()?,
            "--out" => out = Some(PathBuf::from(value()?)),
            "--seed" => seed = value()?.parse()?,
            "--today" => today = value()?.parse()?,
            "--show" => show = value()?.parse()?,
            "--layout" => layout = true,
            other => {
                return Err(format!(
                    "unknown argument {other}; expected --people --out --seed --today --show"
                )
                .into());
            }
        }
    }
    let out = out.ok_or("--out DIR is required")?;
    let config = GeneratorConfig::new(seed, people, today);
    let started = Instant::now();
    let last = std::sync::Mutex::new(Instant::now());
    let report = generate(&config, &out, &|p| {
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed().as_secs() >= 2 || p.rows_done == p.rows_total {
            eprintln!(
                "  {:<14} {:>10} / {:>10}",
                p.library.table_name(),
                p.rows_done,
                p.rows_total
            );
            *last = Instant::now();
        }
    })?;
    let elapsed = started.elapsed();
    println!(
        "generated {people} people (seed {seed}, today {today}) in {:.2} s",
        elapsed.as_secs_f64()
    );
    for library in &report.libraries {
        let bytes: u64 = library
            .files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()))
            .sum::<Result<_, _>>()?;
        println!(
            "  {:<14} {:>10} rows  {:>3} files  {:>8.1} MiB  {:>6.1} bytes/row",
            library.library.table_name(),
            library.rows,
            library.files.len(),
            bytes as f64 / (1 << 20) as f64,
            bytes as f64 / library.rows.max(1) as f64,
        );
    }
    if show > 0 {
        for library in BaseLibrary::ALL {
            let first = &report.library(library).files[0];
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(first)?)?
                .with_batch_size(show)
                .with_limit(show)
                .build()?;
            let batches: Vec<_> = reader.collect::<Result<_, _>>()?;
            println!("{library}:\n{}", pretty_format_batches(&batches)?);
        }
    }
    if layout {
        for library in BaseLibrary::ALL {
            print_layout(library, &report.library(library).files[0])?;
        }
    }
    Ok(())
}

/// Per column of one file: encodings, compressed bytes, pages and mean page size.
fn print_layout(library: BaseLibrary, path: &std::path::Path) -> BoxResult<()> {
    use parquet::file::metadata::PageIndexPolicy;
    let options = parquet::arrow::arrow_reader::ArrowReaderOptions::new()
        .with_page_index_policy(PageIndexPolicy::Required);
    let builder =
        ParquetRecordBatchReaderBuilder::try_new_with_options(File::open(path)?, options)?;
    let meta = builder.metadata();
    let offsets = meta.offset_index().ok_or("no offset index")?;
    println!(
        "{library} {} ({} row groups)",
        path.display(),
        meta.num_row_groups()
    );
    let first = meta.row_group(0);
    for c in 0..first.num_columns() {
        let mut bytes = 0i64;
        let mut pages = 0usize;
        for (row_group, offsets) in meta.row_groups().iter().zip(offsets) {
            bytes += row_group.column(c).compressed_size();
            pages += offsets[c].page_locations().len();
        }
        let column = first.column(c);
        let encodings: Vec<String> = column.encodings().map(|e| format!("{e:?}")).collect();
        println!(
            "  {:<24} {:>9.1} KiB {:>6} pages {:>7.0} B/page  bloom={} {}",
            column.column_path().string(),
            bytes as f64 / 1024.0,
            pages,
            bytes as f64 / pages.max(1) as f64,
            column.bloom_filter_offset().is_some(),
            encodings.join(","),
        );
    }
    Ok(())
}
