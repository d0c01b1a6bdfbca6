//! Generate → read back → check: the invariants other crates rely on, on a small run.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::Mutex;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{Date32Type, Decimal128Type};
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::Encoding;
use parquet::file::metadata::PageIndexPolicy;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::serialized_reader::ReadOptionsBuilder;

use super::dates::{add_months, add_years, age, days};
use super::*;
use crate::id::{CitizenId, Uscc};
use crate::library::{CREDIT_RECORD_TYPES, CREDIT_STATUSES, ENTITY_STATUSES, PERSON_STATUSES};

const PEOPLE: usize = 2_000;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 30).expect("valid date")
}

fn config(seed: u64) -> GeneratorConfig {
    let mut config = GeneratorConfig::new(seed, PEOPLE, today());
    // Several files per library, to check that key ranges are disjoint across files.
    config.rows_per_file = 150;
    config.entities_per_person = 0.2;
    config.credit_records_per_entity = 0.5;
    config
}

struct Run {
    _dir: tempfile::TempDir,
    report: GenerationReport,
}

impl Run {
    fn new(config: &GeneratorConfig) -> Run {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = generate(config, dir.path(), &|_| {}).expect("generation succeeds");
        Run { _dir: dir, report }
    }

    fn files(&self, library: BaseLibrary) -> &[PathBuf] {
        &self.report.library(library).files
    }

    /// Each file of the library, read back.
    fn file_batches(&self, library: BaseLibrary) -> Vec<RecordBatch> {
        self.files(library)
            .iter()
            .map(|path| {
                let file = File::open(path).expect("file exists");
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .expect("valid Parquet")
                    .build()
                    .expect("reader");
                let batches: Vec<RecordBatch> =
                    reader.collect::<Result<_, _>>().expect("readable batches");
                concat_batches(&library.schema(), &batches).expect("same schema")
            })
            .collect()
    }

    /// The whole library as one batch.
    fn load(&self, library: BaseLibrary) -> RecordBatch {
        concat_batches(&library.schema(), &self.file_batches(library)).expect("same schema")
    }
}

fn text<'a>(batch: &'a RecordBatch, column: &str) -> &'a StringArray {
    batch
        .column_by_name(column)
        .expect("column exists")
        .as_string::<i32>()
}

fn day_values(batch: &RecordBatch, column: &str) -> Vec<Option<i32>> {
    let array = batch
        .column_by_name(column)
        .expect("column exists")
        .as_primitive::<Date32Type>();
    (0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i)))
        .collect()
}

fn opt(array: &StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i))
}

#[test]
fn population_agrees_with_citizen_ids_and_spouses_are_linked() {
    let run = Run::new(&config(1));
    let people = run.load(BaseLibrary::Population);
    assert_eq!(people.num_rows(), PEOPLE);
    assert_eq!(
        run.report.library(BaseLibrary::Population).rows,
        PEOPLE as u64
    );
    let today_days = days(today());
    let ids = text(&people, "citizen_id");
    let names = text(&people, "name");
    let genders = text(&people, "gender_code");
    let ethnicities = text(&people, "ethnicity_code");
    let divisions = text(&people, "household_division_code");
    let marital = text(&people, "marital_status_code");
    let spouses = text(&people, "spouse_citizen_id");
    let statuses = text(&people, "person_status");
    let household = text(&people, "household_address");
    let births = day_values(&people, "birth_date");
    let deaths = day_values(&people, "death_date");

    let index: HashMap<&str, usize> = (0..people.num_rows()).map(|i| (ids.value(i), i)).collect();
    assert_eq!(index.len(), PEOPLE, "citizen IDs are unique");
    let mut han = 0;
    let mut seed_city = 0;
    let mut historical = 0;
    let mut married = 0;
    let mut with_spouse = 0;
    for i in 0..people.num_rows() {
        let id = CitizenId::parse_as_of(ids.value(i), today()).expect("valid citizen ID");
        let birth = births[i].expect("birth date is required");
        assert_eq!(days(id.birth_date()), birth);
        assert_eq!(id.gender().code(), genders.value(i));
        assert_eq!(id.division().as_str(), divisions.value(i));
        let division = id.division();
        if division.since() > places::table_start() {
            assert!(
                id.birth_date() >= division.since(),
                "{} born before its code",
                ids.value(i)
            );
        }
        if let Some(until) = division.until() {
            assert!(
                id.birth_date() < until,
                "{} born after its code was withdrawn",
                ids.value(i)
            );
            historical += 1;
        }
        let place = places::Place::new(division);
        seed_city += usize::from(place.seed);
        assert!(
            household.value(i).starts_with(&place.full_name),
            "{}",
            household.value(i)
        );
        let chars = names.value(i).chars().count();
        assert!((2..=4).contains(&chars), "{}", names.value(i));
        let code: u32 = ethnicities.value(i).parse().expect("two digits");
        assert!((1..=56).contains(&code) && ethnicities.value(i).len() == 2);
        han += usize::from(code == 1);

        let years = age(birth, today_days);
        let male = genders.value(i) == "1";
        let status = statuses.value(i);
        assert!(PERSON_STATUSES.contains(&status));
        if marital.value(i) != "10" {
            assert!(years >= if male { 22 } else { 20 }, "married at {years}");
        }
        assert!(["10", "20", "21", "22", "30", "40"].contains(&marital.value(i)));
        match (status, deaths[i]) {
            ("死亡", Some(death)) => assert!(death > birth && death <= today_days),
            ("死亡", None) => panic!("a dead person without a death date"),
            (_, Some(_)) => panic!("a death date on a living person"),
            (_, None) => {}
        }
        let is_married = people::is_married(marital.value(i));
        if is_married && status == "正常" {
            married += 1;
        }
        if let Some(spouse) = opt(spouses, i) {
            with_spouse += 1;
            let j = *index.get(spouse).expect("the spouse exists");
            assert_eq!(opt(spouses, j), Some(ids.value(i)), "marriage is symmetric");
            assert_ne!(
                genders.value(i),
                genders.value(j),
                "spouses are of the other gender"
            );
            assert!(is_married && people::is_married(marital.value(j)));
            assert_eq!((status, statuses.value(j)), ("正常", "正常"));
        }
    }
    let share = |n: usize| n as f64 / PEOPLE as f64;
    assert!(
        (0.86..0.97).contains(&share(han)),
        "Han share {}",
        share(han)
    );
    assert!(
        (0.6..0.8).contains(&share(seed_city)),
        "seed-city share {}",
        share(seed_city)
    );
    assert!(
        historical > 0 && share(historical) < 0.03,
        "historical {historical}"
    );
    assert!(married > 400, "{married} married");
    assert!(
        with_spouse as f64 > 0.75 * married as f64,
        "{with_spouse} of {married} linked"
    );
}

#[test]
fn legal_entities_are_registered_where_their_representatives_live() {
    let run = Run::new(&config(2));
    let people = run.load(BaseLibrary::Population);
    let entities = run.load(BaseLibrary::LegalEntity);
    let ids = text(&people, "citizen_id");
    let person_names = text(&people, "name");
    let person_status = text(&people, "person_status");
    let births = day_values(&people, "birth_date");
    let people_by_id: HashMap<&str, usize> =
        (0..people.num_rows()).map(|i| (ids.value(i), i)).collect();

    let n = entities.num_rows();
    assert!(
        (300..500).contains(&n),
        "{n} entities for {PEOPLE} people at 0.2"
    );
    let usccs = text(&entities, "uscc");
    let divisions = text(&entities, "address_division_code");
    let addresses = text(&entities, "address");
    let rep_ids = text(&entities, "legal_rep_id_number");
    let rep_names = text(&entities, "legal_rep_name");
    let statuses = text(&entities, "status");
    let types = text(&entities, "entity_type");
    let names = text(&entities, "name");
    let authorities = text(&entities, "reg_authority_name");
    let established = day_values(&entities, "established_date");
    let terms = day_values(&entities, "term_to");
    let capital = entities
        .column_by_name("registered_capital")
        .expect("column")
        .as_primitive::<Decimal128Type>();
    let mut categories = HashMap::new();
    for i in 0..n {
        let uscc = Uscc::parse(usccs.value(i)).expect("valid USCC");
        assert_eq!(uscc.division_digits(), divisions.value(i));
        let division = crate::id::DivisionCode::parse(divisions.value(i)).expect("known division");
        assert!(division.is_current());
        assert!(addresses.value(i).starts_with(&division.full_name()));
        *categories.entry(&usccs.value(i)[..2]).or_insert(0) += 1;
        let rep = *people_by_id
            .get(rep_ids.value(i))
            .expect("the legal representative exists");
        assert_eq!(rep_names.value(i), person_names.value(rep));
        assert_eq!(person_status.value(rep), "正常");
        let founded = established[i].expect("established date is required");
        assert!(founded <= days(today()));
        assert!(
            founded >= add_years(births[rep].expect("birth"), 18),
            "rep was an adult"
        );
        if let Some(term) = terms[i] {
            assert!(term > founded);
            if statuses.value(i) == "存续" {
                assert!(term > days(today()), "a live entity within its term");
            }
        }
        assert!(ENTITY_STATUSES.contains(&statuses.value(i)));
        assert!(capital.value(i) > 0);
        let expected_type = match &usccs.value(i)[..2] {
            "92" => Some("个体工商户"),
            "93" => Some("农民专业合作社"),
            "12" => Some("事业单位"),
            "52" => Some("民办非企业单位"),
            _ => None,
        };
        if let Some(t) = expected_type {
            assert_eq!(types.value(i), t);
        }
        assert!(!names.value(i).is_empty());
        assert!(
            authorities.value(i).ends_with('局'),
            "{}",
            authorities.value(i)
        );
    }
    assert!(categories["91"] > n / 2, "{categories:?}");
    assert!(categories.contains_key("92"), "{categories:?}");
}

#[test]
fn credit_records_are_about_real_subjects_and_agree_with_their_dates() {
    let run = Run::new(&config(3));
    let people = run.load(BaseLibrary::Population);
    let entities = run.load(BaseLibrary::LegalEntity);
    let credit = run.load(BaseLibrary::CreditRecord);
    let person_names: HashMap<&str, &str> = {
        let ids = text(&people, "citizen_id");
        let names = text(&people, "name");
        (0..people.num_rows())
            .map(|i| (ids.value(i), names.value(i)))
            .collect()
    };
    let entity_names: HashMap<&str, (&str, &str)> = {
        let usccs = text(&entities, "uscc");
        let names = text(&entities, "name");
        let divisions = text(&entities, "address_division_code");
        (0..entities.num_rows())
            .map(|i| (usccs.value(i), (names.value(i), divisions.value(i))))
            .collect()
    };
    let today_days = days(today());
    let n = credit.num_rows();
    assert!(n > 100, "{n} credit records");
    let kinds = text(&credit, "record_type");
    let subjects = text(&credit, "subject_name");
    let usccs = text(&credit, "subject_uscc");
    let person_ids = text(&credit, "subject_id_number");
    let statuses = text(&credit, "status");
    let docs = text(&credit, "decision_doc_no");
    let authorities = text(&credit, "authority_name");
    let decisions = day_values(&credit, "decision_date");
    let publicity = day_values(&credit, "publicity_end_date");
    let valid_to = day_values(&credit, "valid_to");
    let mut repaired_subjects = HashSet::new();
    let mut repair_subjects = Vec::new();
    let mut listed_in_seed_cities: HashMap<&str, usize> = HashMap::new();
    for i in 0..n {
        let kind = kinds.value(i);
        assert!(CREDIT_RECORD_TYPES.contains(&kind));
        let status = statuses.value(i);
        assert!(CREDIT_STATUSES.contains(&status));
        let subject = match (opt(usccs, i), opt(person_ids, i)) {
            (Some(uscc), None) => {
                let (name, division) = entity_names.get(uscc).expect("the entity exists");
                assert_eq!(subjects.value(i), *name);
                (uscc, *division)
            }
            (None, Some(id)) => {
                assert_eq!(
                    subjects.value(i),
                    *person_names.get(id).expect("the person exists")
                );
                (id, &id[..6])
            }
            other => panic!("a record needs exactly one subject, got {other:?}"),
        };
        let decision = decisions[i].expect("decision date is required");
        assert!(decision <= today_days);
        assert!(!docs.value(i).is_empty() && !authorities.value(i).is_empty());
        if kind == "行政处罚" {
            let end = publicity[i].expect("penalties are publicised");
            assert!(end >= add_months(decision, 3) - 1 && end <= add_years(decision, 3));
            if status == "有效" {
                assert!(end >= today_days);
            }
        }
        if let Some(end) = valid_to[i]
            && status == "有效"
        {
            assert!(end >= today_days, "an expired record is not 有效");
        }
        if status == "已修复" {
            repaired_subjects.insert(subject.0);
        }
        if kind == "信用修复" {
            repair_subjects.push(subject.0);
        }
        let in_seed_city = crate::id::DivisionCode::parse(subject.1)
            .map(|d| places::Place::new(d).seed)
            .unwrap_or(false);
        if status == "有效" && in_seed_city {
            *listed_in_seed_cities.entry(kind).or_insert(0) += 1;
        }
    }
    for subject in repair_subjects {
        assert!(
            repaired_subjects.contains(subject),
            "a repair marks an earlier record repaired"
        );
    }
    for kind in [
        "失信被执行人",
        "严重违法失信名单",
        "经营异常名录",
        "行政处罚",
        "行政许可",
    ] {
        assert!(
            listed_in_seed_cities.get(kind).copied().unwrap_or(0) > 0,
            "{kind}: {listed_in_seed_cities:?}"
        );
    }
}

#[test]
fn files_are_sorted_by_key_with_disjoint_ranges() {
    let run = Run::new(&config(4));
    for library in BaseLibrary::ALL {
        let files = run.file_batches(library);
        assert!(files.len() > 1, "{library}: several files");
        let mut previous_last: Option<String> = None;
        for (n, batch) in files.iter().enumerate() {
            crate::layout::check_sorted(batch, library).expect("sorted and unique within a file");
            let keys = text(batch, library.key_column());
            if keys.is_empty() {
                continue;
            }
            if let Some(last) = &previous_last {
                assert!(
                    last.as_str() < keys.value(0),
                    "{library} file {n} starts after the previous one"
                );
            }
            previous_last = Some(keys.value(keys.len() - 1).to_owned());
        }
    }
}

#[test]
fn files_have_page_indexes_bloom_filters_and_no_key_dictionary() {
    let run = Run::new(&config(5));
    for library in BaseLibrary::ALL {
        let contents = run.file_batches(library);
        for (path, batch) in run.files(library).iter().zip(&contents) {
            let file = File::open(path).expect("file exists");
            let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
                file,
                ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required),
            )
            .expect("metadata with page index");
            let meta = builder.metadata();
            assert!(meta.num_row_groups() > 0, "{}", path.display());
            let column_index = meta.column_index().expect("column index");
            let offset_index = meta.offset_index().expect("offset index");
            assert_eq!(column_index.len(), meta.num_row_groups());
            assert_eq!(offset_index.len(), meta.num_row_groups());

            let reader = SerializedFileReader::new_with_options(
                File::open(path).expect("file exists"),
                ReadOptionsBuilder::new()
                    .with_reader_properties(
                        parquet::file::properties::ReaderProperties::builder()
                            .set_read_bloom_filter(true)
                            .build(),
                    )
                    .build(),
            )
            .expect("reader");
            // The key's bloom filter of the first row group holds its first key and rejects
            // absent ones (at 1% false positives, at least one of three).
            let key_position = (0..meta.row_group(0).num_columns())
                .find(|&c| {
                    meta.row_group(0).column(c).column_path().string() == library.key_column()
                })
                .expect("key column");
            let bloom = reader
                .get_row_group(0)
                .expect("row group")
                .get_column_bloom_filter(key_position)
                .cloned()
                .expect("key bloom filter");
            assert!(bloom.check(text(batch, library.key_column()).value(0)));
            assert!(
                ["absent-1", "absent-2", "absent-3"]
                    .iter()
                    .any(|k| !bloom.check(*k))
            );
            for rg in 0..meta.num_row_groups() {
                let row_group = meta.row_group(rg);
                let position = |name: &str| {
                    (0..row_group.num_columns())
                        .find(|&c| row_group.column(c).column_path().string() == name)
                        .expect("column exists")
                };
                let key = position(library.key_column());
                let encodings: Vec<Encoding> = row_group.column(key).encodings().collect();
                assert!(
                    !encodings.contains(&Encoding::RLE_DICTIONARY),
                    "{encodings:?}"
                );
                assert!(
                    !encodings.contains(&Encoding::PLAIN_DICTIONARY),
                    "{encodings:?}"
                );
                assert_eq!(
                    row_group.sorting_columns().map(|s| s[0].column_idx),
                    Some(key as i32)
                );
                let rg_reader = reader.get_row_group(rg).expect("row group");
                for column in std::iter::once(&library.key_column()).chain(library.secondary_keys())
                {
                    let c = position(column);
                    assert!(
                        rg_reader.get_column_bloom_filter(c).is_some(),
                        "{library}.{column} has a bloom filter"
                    );
                }
            }
        }
    }
}

#[test]
fn generation_is_deterministic_across_thread_counts_and_seed_dependent() {
    let config = config(6);
    let read_all = |report: &GenerationReport| -> Vec<Vec<u8>> {
        report
            .libraries
            .iter()
            .flat_map(|l| l.files.iter())
            .map(|p| std::fs::read(p).expect("readable"))
            .collect()
    };
    let pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool")
    };
    let a = pool(1).install(|| Run::new(&config));
    let b = pool(3).install(|| Run::new(&config));
    assert_eq!(
        read_all(&a.report),
        read_all(&b.report),
        "same bytes for the same seed"
    );
    let names = |run: &Run| -> Vec<String> {
        run.report
            .libraries
            .iter()
            .flat_map(|l| l.files.iter())
            .map(|p| {
                p.file_name()
                    .expect("file name")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(names(&a), names(&b));
    let mut other = config.clone();
    other.seed = 7;
    let c = Run::new(&other);
    assert_ne!(
        read_all(&a.report)[0],
        read_all(&c.report)[0],
        "another seed, other data"
    );
}

#[test]
fn progress_reaches_the_totals_in_order() {
    let seen: Mutex<Vec<Progress>> = Mutex::new(Vec::new());
    let dir = tempfile::tempdir().expect("temp dir");
    let report = generate(&config(8), dir.path(), &|p| {
        seen.lock().expect("not poisoned").push(p);
    })
    .expect("generates");
    let seen = seen.into_inner().expect("not poisoned");
    for library in BaseLibrary::ALL {
        let reports: Vec<&Progress> = seen.iter().filter(|p| p.library == library).collect();
        assert!(!reports.is_empty(), "{library} reported");
        assert!(reports.windows(2).all(|w| w[0].rows_done <= w[1].rows_done));
        let last = reports.last().expect("non-empty");
        assert_eq!(last.rows_done, report.library(library).rows);
        assert_eq!(last.rows_total, report.library(library).rows);
    }
}

#[test]
fn refuses_bad_configs_and_occupied_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut bad = config(9);
    bad.people = 0;
    assert!(matches!(
        generate(&bad, dir.path(), &|_| {}),
        Err(GenerateError::InvalidConfig(_))
    ));
    let mut bad = config(9);
    bad.seed_city_share = 1.5;
    assert!(matches!(
        generate(&bad, dir.path(), &|_| {}),
        Err(GenerateError::InvalidConfig(_))
    ));

    let mut small = config(9);
    small.people = 50;
    generate(&small, dir.path(), &|_| {}).expect("first run");
    let err = generate(&small, dir.path(), &|_| {}).expect_err("second run refused");
    assert!(matches!(err, GenerateError::OutputNotEmpty { .. }), "{err}");
}

#[test]
fn tiny_runs_still_write_every_library() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut tiny = config(10);
    tiny.people = 3;
    let report = generate(&tiny, dir.path(), &|_| {}).expect("generates");
    assert_eq!(report.library(BaseLibrary::Population).rows, 3);
    for library in BaseLibrary::ALL {
        let files = &report.library(library).files;
        assert!(!files.is_empty());
        for path in files {
            let file = File::open(path).expect("exists");
            ParquetRecordBatchReaderBuilder::try_new(file).expect("valid Parquet");
        }
    }
}
