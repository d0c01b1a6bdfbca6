//! The deterministic synthetic-data generator: linked population, legal-entity and credit
//! libraries, written as lookup-ready Parquet.
//!
//! The demo and the benchmarks need base libraries that behave like the real ones: millions
//! of people whose citizen IDs agree with their birth dates, genders and divisions; spouses who
//! point at each other; companies whose legal representatives exist and whose USCCs carry
//! their division; credit listings about real subjects. And they need the *same* data on every
//! machine, so that a test can name a person and a benchmark can be repeated. Hence:
//!
//! - **Determinism.** Every unit of work draws from its own random stream derived from the
//!   seed and the unit's name (the `rng` module), and the way work is cut into files depends only on
//!   the configuration, so the files are byte-identical for a configuration whatever the
//!   number of threads.
//! - **Divisions as units.** People, their entities and their credit records are generated one
//!   division at a time, so every cross-reference (legal representative, credit subject, most
//!   spouses) stays inside data that is in memory together, and no 10-million-person index is
//!   ever built. Generating in citizen-ID order yields population rows already sorted.
//! - **Parallel parts.** Consecutive divisions are grouped into parts of about
//!   [`GeneratorConfig::rows_per_file`] people; each part is generated and written to its own
//!   population file by one rayon task, so key ranges are disjoint and increase with the file
//!   number. Married people whom their own (small) division could not pair are paired across
//!   the divisions of their part, so spouse links depend on `rows_per_file` too. Entities and
//!   credit records of each part stay in memory as Arrow batches (a tenth and a fortieth of
//!   the people) and are written afterwards, USCCs sorted across parts by their
//!   authority-and-category prefix, credit records numbered in generation order.
//! - **Plausibility.** The age pyramid follows the 2020 census, people are born after their
//!   division code existed, marital status follows age, names follow surname frequencies and
//!   naming fashions by decade, and about 70% of people live in the demo's seed cities.
//!
//! Files go to `out_dir/{population,legal_entity,credit_record}/part-NNNNN.parquet` with the
//! layout of [`crate::layout`]. The generator never reads the clock: `today` is configuration.

mod credit;
mod dates;
mod entities;
mod names;
mod people;
mod places;
mod rng;
mod tables;

#[cfg(test)]
mod tests;

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use chrono::{Datelike, NaiveDate};
use rayon::prelude::*;

use crate::layout::{LayoutError, ParquetSink};
use crate::library::BaseLibrary;
use credit::CreditColumns;
use entities::{EntityColumns, PREFIXES};
use people::PopulationColumns;
use places::push_padded;
use rng::Rng;
use tables::Tables;

/// Rows per Arrow batch handed to the Parquet writer.
const BATCH_ROWS: usize = 65_536;

/// Stream tag of the plan (how many people each division gets).
const STREAM_PLAN: u64 = 0x504c_414e; // "PLAN"

/// Width of the number in a credit `record_id` (`CR000000000001`).
const RECORD_ID_DIGITS: usize = 12;

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratorConfig {
    /// Seed of every random choice; the same configuration gives byte-identical files.
    pub seed: u64,
    /// Number of people in the population library.
    pub people: usize,
    /// The day the data describes: nobody is born, dies or is updated after it.
    pub today: NaiveDate,
    /// Legal entities per person (about one in ten).
    pub entities_per_person: f64,
    /// Credit records per legal entity, before credit-repair records are added.
    pub credit_records_per_entity: f64,
    /// Share of people registered in the seed cities of the demo.
    pub seed_city_share: f64,
    /// Share of people whose IDs carry a withdrawn division code.
    pub historical_share: f64,
    /// Target rows per Parquet file (population files end at a division boundary, so they
    /// may be somewhat larger).
    pub rows_per_file: usize,
}

impl GeneratorConfig {
    /// Rows per file when not configured: four row groups.
    pub const DEFAULT_ROWS_PER_FILE: usize = 4 * crate::layout::ROW_GROUP_ROWS;

    /// A configuration with the default mix: 0.1 entities per person, 0.25 credit records per
    /// entity, 70% of people in the seed cities, 1% with historical division codes.
    pub fn new(seed: u64, people: usize, today: NaiveDate) -> GeneratorConfig {
        GeneratorConfig {
            seed,
            people,
            today,
            entities_per_person: 0.1,
            credit_records_per_entity: 0.25,
            seed_city_share: 0.7,
            historical_share: 0.01,
            rows_per_file: Self::DEFAULT_ROWS_PER_FILE,
        }
    }

    fn validate(&self) -> Result<(), GenerateError> {
        let invalid = |message: String| Err(GenerateError::InvalidConfig(message));
        if self.people == 0 || self.people > u32::MAX as usize {
            return invalid(format!(
                "people must be between 1 and {}, not {}",
                u32::MAX,
                self.people
            ));
        }
        if !(1990..=2200).contains(&self.today.year()) {
            return invalid(format!(
                "today must lie between 1990 and 2200, not {}",
                self.today
            ));
        }
        for (name, value, max) in [
            ("entities_per_person", self.entities_per_person, 10.0),
            (
                "credit_records_per_entity",
                self.credit_records_per_entity,
                10.0,
            ),
            ("seed_city_share", self.seed_city_share, 1.0),
            ("historical_share", self.historical_share, 1.0),
        ] {
            if !(0.0..=max).contains(&value) {
                return invalid(format!("{name} must be between 0 and {max}, not {value}"));
            }
        }
        if self.seed_city_share + self.historical_share > 1.0 {
            return invalid("seed_city_share + historical_share must not exceed 1".to_owned());
        }
        if self.rows_per_file == 0 {
            return invalid("rows_per_file must be positive".to_owned());
        }
        Ok(())
    }
}

/// Progress of one library, reported to the caller's callback.
///
/// Population rows are reported as they are written, during the first phase; legal entities
/// and credit records are generated alongside the people and reported as their files are
/// written, in the second phase (their totals are known only then). Reports arrive in order
/// (`rows_done` never decreases for a library), a few hundred times per run at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The library being written.
    pub library: BaseLibrary,
    /// Rows written so far.
    pub rows_done: u64,
    /// Rows the library will have.
    pub rows_total: u64,
}

/// What one library's generation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryOutput {
    /// The library.
    pub library: BaseLibrary,
    /// Rows over all its files.
    pub rows: u64,
    /// The Parquet files, in key order.
    pub files: Vec<PathBuf>,
}

/// What a generator run produced, one entry per library in [`BaseLibrary::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationReport {
    /// Population, legal entities, credit records.
    pub libraries: Vec<LibraryOutput>,
}

impl GenerationReport {
    /// The output of one library.
    pub fn library(&self, library: BaseLibrary) -> &LibraryOutput {
        self.libraries
            .iter()
            .find(|l| l.library == library)
            .expect("a report has an entry for every base library")
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The configuration is out of range (caller).
    #[error("invalid generator configuration: {0}")]
    InvalidConfig(String),
    /// The output directory already holds data; the generator never overwrites (caller).
    #[error("{} is not empty; remove it or choose another output directory", path.display())]
    OutputNotEmpty { path: PathBuf },
    /// So many people share a division and birth date that their sequence numbers run out
    /// (caller: fewer people or a larger seed-city spread).
    #[error(
        "more than 498 men or 498 women registered in {division} were born on {date}; the citizen-ID sequence numbers are exhausted"
    )]
    Crowded { division: String, date: NaiveDate },
    /// The output directory could not be prepared (operator).
    #[error("cannot prepare {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A Parquet file could not be written (operator).
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A generated value broke an invariant (a bug in the generator).
    #[error("internal generator error: {0}")]
    Internal(String),
}

/// Generates the three linked base libraries into `out_dir` and reports per-library row
/// counts and files. `out_dir` may exist, but its library subdirectories must be absent or
/// empty. On error, the files already written by this run are removed.
pub fn generate(
    config: &GeneratorConfig,
    out_dir: &Path,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<GenerationReport, GenerateError> {
    config.validate()?;
    let dirs = prepare_dirs(out_dir)?;
    let result = run(config, &dirs, progress);
    if result.is_err() {
        for dir in &dirs {
            remove_parts(dir);
        }
    }
    result
}

/// Creates `out_dir/<library>` for every library, refusing directories that hold anything.
fn prepare_dirs(out_dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    BaseLibrary::ALL
        .iter()
        .map(|library| {
            let dir = out_dir.join(library.table_name());
            let io_err = |source| GenerateError::Io {
                path: dir.clone(),
                source,
            };
            fs::create_dir_all(&dir).map_err(io_err)?;
            if fs::read_dir(&dir).map_err(io_err)?.next().is_some() {
                return Err(GenerateError::OutputNotEmpty { path: dir });
            }
            Ok(dir)
        })
        .collect()
}

/// Best-effort removal of the part files of a failed run (the directories were empty).
fn remove_parts(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with("part-") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn part_path(dir: &Path, index: usize) -> PathBuf {
    let mut name = String::from("part-");
    push_padded(&mut name, index as u64, 5);
    name.push_str(".parquet");
    dir.join(name)
}

/// Serialises progress reports so that each library's count only grows.
struct Reporter<'a> {
    callback: &'a (dyn Fn(Progress) + Sync),
    /// `(done, total)` per library in [`BaseLibrary::ALL`] order.
    state: Mutex<[(u64, u64); 3]>,
}

impl Reporter<'_> {
    fn slot(library: BaseLibrary) -> usize {
        BaseLibrary::ALL
            .iter()
            .position(|&l| l == library)
            .expect("library is in ALL")
    }

    fn set_total(&self, library: BaseLibrary, total: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state[Self::slot(library)].1 = total;
    }

    fn add(&self, library: BaseLibrary, rows: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut state[Self::slot(library)];
        slot.0 += rows;
        (self.callback)(Progress {
            library,
            rows_done: slot.0,
            rows_total: slot.1,
        });
    }
}

/// A run of consecutive divisions written to one population file.
#[derive(Debug, Clone)]
struct Part {
    places: Range<usize>,
}

/// What a part leaves for the second phase.
struct PartOutput {
    population_rows: u64,
    population_file: PathBuf,
    /// Entity batches per USCC prefix (index into [`PREFIXES`]).
    entities: Vec<Option<RecordBatch>>,
    /// Credit rows and their columns after `record_id`.
    credit: (usize, Vec<ArrayRef>),
}

fn run(
    config: &GeneratorConfig,
    dirs: &[PathBuf],
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<GenerationReport, GenerateError> {
    let tables = Tables::new(config);
    let counts = plan(config, &tables);
    let parts = cut_parts(&counts, config.rows_per_file);
    let reporter = Reporter {
        callback: progress,
        state: Mutex::new([(0, 0); 3]),
    };
    reporter.set_total(BaseLibrary::Population, config.people as u64);

    let [population_dir, entity_dir, credit_dir] = dirs else {
        return Err(GenerateError::Internal(
            "expected one directory per library".to_owned(),
        ));
    };
    let outputs: Vec<PartOutput> = parts
        .par_iter()
        .enumerate()
        .map(|(index, part)| {
            run_part(
                &tables,
                &counts,
                part,
                &part_path(population_dir, index),
                &reporter,
            )
        })
        .collect::<Result<_, _>>()?;

    let population = LibraryOutput {
        library: BaseLibrary::Population,
        rows: outputs.iter().map(|o| o.population_rows).sum(),
        files: outputs.iter().map(|o| o.population_file.clone()).collect(),
    };

    // USCCs sort by prefix first, then division: all parts' `12…` entities, then `52…`, ….
    let mut entity_batches = Vec::new();
    for prefix in 0..PREFIXES.len() {
        entity_batches.extend(outputs.iter().filter_map(|o| o.entities[prefix].clone()));
    }
    let legal_entity = write_library(
        BaseLibrary::LegalEntity,
        entity_batches,
        entity_dir,
        config.rows_per_file,
        &reporter,
    )?;

    let mut credit_batches = Vec::with_capacity(outputs.len());
    let mut next_id = 1u64;
    for output in outputs {
        let (rows, columns) = output.credit;
        if rows == 0 {
            continue;
        }
        let mut ids = StringBuilder::with_capacity(rows, rows * (RECORD_ID_DIGITS + 2));
        let mut id = String::with_capacity(RECORD_ID_DIGITS + 2);
        for _ in 0..rows {
            id.clear();
            id.push_str("CR");
            push_padded(&mut id, next_id, RECORD_ID_DIGITS);
            ids.append_value(&id);
            next_id += 1;
        }
        let mut all: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 1);
        all.push(Arc::new(ids.finish()));
        all.extend(columns);
        let batch = RecordBatch::try_new(BaseLibrary::CreditRecord.schema(), all)
            .map_err(|e| GenerateError::Internal(format!("credit batch: {e}")))?;
        credit_batches.push(batch);
    }
    let credit_record = write_library(
        BaseLibrary::CreditRecord,
        credit_batches,
        credit_dir,
        config.rows_per_file,
        &reporter,
    )?;

    Ok(GenerationReport {
        libraries: vec![population, legal_entity, credit_record],
    })
}

/// How many people each place gets: the seed cities share `seed_city_share` (demo counties
/// weigh six times an ordinary county), withdrawn codes `historical_share`, the rest of China
/// the remainder. Each county's weight is scaled by a seeded jitter and by the share of the age
/// pyramid its code's dates allow, so a code created in 2018 gets only children, and few.
/// Counts are apportioned by largest remainder so that they add up to `people` exactly.
fn plan(config: &GeneratorConfig, tables: &Tables) -> Vec<usize> {
    let mut rng = Rng::derive(config.seed, &[STREAM_PLAN]);
    let mut raw = Vec::with_capacity(tables.places.len());
    let mut group_totals = [0.0f64; 3];
    let group_of = |i: usize| {
        let place = &tables.places[i];
        if !place.code.is_current() {
            2
        } else if place.seed {
            0
        } else {
            1
        }
    };
    for (i, place) in tables.places.iter().enumerate() {
        let base = if place.demo { 6.0 } else { 1.0 };
        let weight = base * (0.5 + rng.unit()) * tables.samplers[i].coverage();
        group_totals[group_of(i)] += weight;
        raw.push(weight);
    }
    let mut shares = [
        config.seed_city_share,
        1.0 - config.seed_city_share - config.historical_share,
        config.historical_share,
    ];
    for (share, total) in shares.iter_mut().zip(group_totals) {
        if total <= 0.0 {
            *share = 0.0;
        }
    }
    let share_sum: f64 = shares.iter().sum();
    if share_sum <= 0.0 {
        // Every group with places was configured to zero: spread people over all of them.
        shares = group_totals.map(|t| if t > 0.0 { 1.0 } else { 0.0 });
    }
    // Apportion people to the groups, then within each group to its places, so that a
    // small group (withdrawn codes) gets its share even when each of its places' quota is
    // tiny.
    let group_quotas: Vec<f64> = {
        let sum: f64 = shares.iter().sum();
        shares
            .iter()
            .map(|s| config.people as f64 * s / sum)
            .collect()
    };
    let group_counts = largest_remainder(&group_quotas, config.people);
    let mut counts = vec![0; raw.len()];
    for (group, &group_count) in group_counts.iter().enumerate() {
        let members: Vec<usize> = (0..raw.len()).filter(|&i| group_of(i) == group).collect();
        if group_totals[group] <= 0.0 {
            continue;
        }
        let quotas: Vec<f64> = members
            .iter()
            .map(|&i| group_count as f64 * raw[i] / group_totals[group])
            .collect();
        for (&i, count) in members.iter().zip(largest_remainder(&quotas, group_count)) {
            counts[i] = count;
        }
    }
    counts
}

/// Integer counts adding up to `total`, each the floor of its quota plus one for the largest
/// remainders (ties to the lower index). Quotas of zero stay zero.
fn largest_remainder(quotas: &[f64], total: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = quotas.iter().map(|q| q.floor() as usize).collect();
    let mut order: Vec<usize> = (0..quotas.len()).filter(|&i| quotas[i] > 0.0).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (quotas[a] - quotas[a].floor(), quotas[b] - quotas[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let mut missing = total.saturating_sub(counts.iter().sum());
    // The remainders add up to less than the number of quotas; loop in case of rounding.
    while missing > 0 && !order.is_empty() {
        for &i in &order {
            if missing == 0 {
                break;
            }
            counts[i] += 1;
            missing -= 1;
        }
    }
    counts
}

/// Groups consecutive places into parts of at least `rows_per_file` people (the last one may
/// be smaller); places without people are skipped.
fn cut_parts(counts: &[usize], rows_per_file: usize) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut start = None;
    let mut rows = 0;
    for (i, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let first = *start.get_or_insert(i);
        rows += count;
        if rows >= rows_per_file {
            parts.push(Part {
                places: first..i + 1,
            });
            start = None;
            rows = 0;
        }
    }
    if let Some(first) = start {
        parts.push(Part {
            places: first..counts.len(),
        });
    }
    parts
}

/// Generates the divisions of one part, writes its population file, and returns its entities
/// and credit records.
fn run_part(
    tables: &Tables,
    counts: &[usize],
    part: &Part,
    path: &Path,
    reporter: &Reporter<'_>,
) -> Result<PartOutput, GenerateError> {
    let part_rows: usize = counts[part.places.clone()].iter().sum();
    let batch_rows = BATCH_ROWS.min(part_rows).max(1);
    let mut sink = ParquetSink::create(path, BaseLibrary::Population)?;
    let mut population = PopulationColumns::with_capacity(batch_rows);
    let mut entity_columns: Vec<EntityColumns> =
        PREFIXES.iter().map(|_| EntityColumns::new()).collect();
    let mut credit_columns = CreditColumns::new();
    let mut buf = String::with_capacity(64);
    // People first, for the whole part, so that married people of small divisions can be
    // paired across divisions before any row is written.
    let mut divisions = Vec::new();
    for place_index in part.places.clone() {
        let count = counts[place_index];
        if count == 0 {
            continue;
        }
        let slot = u32::try_from(divisions.len()).expect("fewer than 4 billion divisions");
        let people = people::generate(tables, place_index, count, slot)?;
        divisions.push(people::Division {
            place: place_index,
            people,
        });
    }
    people::pair_across(tables, &mut divisions);
    for (slot, division) in divisions.iter().enumerate() {
        let place = &tables.places[division.place];
        let people = &division.people;
        let entities = entities::generate(tables, place, people)?;
        let records = credit::generate(tables, place, people, &entities);
        for e in &entities {
            entity_columns[e.prefix].append(place, people, e, &mut buf);
        }
        for r in &records {
            credit_columns.append(people, &entities, r);
        }
        let mut start = 0;
        while start < people.len() {
            let end = people.len().min(start + batch_rows - population.len());
            population.append(tables, &divisions, slot, start..end);
            start = end;
            if population.len() >= batch_rows {
                let full = std::mem::replace(
                    &mut population,
                    PopulationColumns::with_capacity(batch_rows),
                );
                let batch = full.finish()?;
                sink.write(&batch)?;
                reporter.add(BaseLibrary::Population, batch.num_rows() as u64);
            }
        }
    }
    if population.len() > 0 {
        let batch = population.finish()?;
        sink.write(&batch)?;
        reporter.add(BaseLibrary::Population, batch.num_rows() as u64);
    }
    let population_rows = sink.finish()?;
    let entities = entity_columns
        .into_iter()
        .map(|columns| {
            if columns.len() == 0 {
                Ok(None)
            } else {
                columns.finish().map(Some)
            }
        })
        .collect::<Result<_, GenerateError>>()?;
    let credit_rows = credit_columns.len();
    Ok(PartOutput {
        population_rows,
        population_file: path.to_owned(),
        entities,
        credit: (credit_rows, credit_columns.finish()),
    })
}

/// Splits batches (in key order) into files of about `rows_per_file` rows, balanced, and
/// writes them in parallel. A library without rows still gets one empty file, so that readers
/// always find its schema.
fn write_library(
    library: BaseLibrary,
    batches: Vec<RecordBatch>,
    dir: &Path,
    rows_per_file: usize,
    reporter: &Reporter<'_>,
) -> Result<LibraryOutput, GenerateError> {
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    reporter.set_total(library, total as u64);
    let files = total.div_ceil(rows_per_file).max(1);
    let per_file = total.div_ceil(files).max(1);
    let mut groups: Vec<Vec<RecordBatch>> = vec![Vec::new(); files];
    let mut file = 0;
    let mut in_file = 0;
    for batch in &batches {
        let mut offset = 0;
        while offset < batch.num_rows() {
            if in_file == per_file {
                // `files * per_file >= total`, so a next file exists while rows remain.
                file += 1;
                in_file = 0;
            }
            let take = (batch.num_rows() - offset).min(per_file - in_file);
            groups[file].push(batch.slice(offset, take));
            offset += take;
            in_file += take;
        }
    }
    let paths: Vec<PathBuf> = (0..files).map(|i| part_path(dir, i)).collect();
    let rows: Vec<u64> = groups
        .into_par_iter()
        .zip(paths.par_iter())
        .map(|(group, path)| {
            let mut sink = ParquetSink::create(path, library)?;
            for batch in &group {
                // Slices stay small enough for the writer; re-chunk large ones for progress.
                let mut offset = 0;
                while offset < batch.num_rows() {
                    let len = BATCH_ROWS.min(batch.num_rows() - offset);
                    sink.write(&batch.slice(offset, len))?;
                    reporter.add(library, len as u64);
                    offset += len;
                }
            }
            Ok(sink.finish()?)
        })
        .collect::<Result<_, GenerateError>>()?;
    Ok(LibraryOutput {
        library,
        rows: rows.iter().sum(),
        files: paths,
    })
}
