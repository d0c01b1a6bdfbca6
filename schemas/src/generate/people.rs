//! 人口: the people registered in one division, consistent with their citizen IDs and each
//! other.
//!
//! A division is generated as a whole, by one thread, from its own random stream, because
//! that is the unit in which the invariants live: citizen IDs are unique per
//! (division, birth date, sequence), so sequences are allocated per birth date; and spouses are
//! paired within the division (most couples share a household registration), so both sides of
//! a marriage exist before either row is written. Generating in ID order — division, then
//! birth date, then sequence — means the rows come out sorted by key without a sort.
//!
//! People are kept in a compact form ([`Person`], about 100 bytes) until their rows are
//! appended to Arrow builders; addresses are regenerated from a stored seed rather than kept
//! as strings, so that a couple can share one address and a large division stays small.

use arrow::array::{
    ArrayRef, Date32Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use std::sync::Arc;

use super::GenerateError;
use super::dates::{self, add_years, age, office_timestamp};
use super::names::ShortName;
use super::rng::Rng;
use super::tables::Tables;
use crate::id::citizen_id_check_character;
use crate::library::{BaseLibrary, TIME_ZONE};

/// A person of a part: the division's slot in the part and the index within the division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PersonRef {
    pub(crate) slot: u32,
    pub(crate) index: u32,
}

/// The people of one division of a part.
#[derive(Debug)]
pub(crate) struct Division {
    /// Index into the run's places.
    pub(crate) place: usize,
    pub(crate) people: Vec<Person>,
}

/// Stream tag of a division's people.
const STREAM_PEOPLE: u64 = 0x5045_4f50_4c45; // "PEOPLE"

/// Stream tag of the pairing of a part's remaining married people.
const STREAM_COUPLES: u64 = 0x434f_5550_4c45; // "COUPLE"

/// The share of boys at birth (sex ratio about 105).
const MALE_SHARE: f64 = 0.512;

/// Sequences `0..=995` are used; 996–999 are traditionally kept for centenarians.
const SEQUENCES_PER_GENDER: u64 = 498;

/// 人员状态.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Normal,
    Dead,
    MovedOut,
    Cancelled,
}

impl Status {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Status::Normal => "正常",
            Status::Dead => "死亡",
            Status::MovedOut => "迁出",
            Status::Cancelled => "注销",
        }
    }
}

/// Where someone actually lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Residence {
    /// At the household-registration address.
    Household,
    /// Elsewhere in the same division: the address drawn from this seed.
    SameDivision(u64),
    /// In another division (index into the run's places).
    Elsewhere(u32, u64),
}

/// One person, compactly.
#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub(crate) id: [u8; 18],
    pub(crate) name: ShortName,
    /// `Date32`.
    pub(crate) birth: i32,
    pub(crate) male: bool,
    /// Completed years on `today`.
    pub(crate) age: u8,
    pub(crate) ethnicity: &'static str,
    /// GB/T 2261.2 code.
    pub(crate) marital: &'static str,
    pub(crate) status: Status,
    pub(crate) death: Option<i32>,
    /// The spouse, usually in the same division.
    pub(crate) spouse: Option<PersonRef>,
    /// Seed of the household-registration address.
    pub(crate) household: u64,
    pub(crate) residence: Residence,
    pub(crate) updated_ms: i64,
}

impl Person {
    pub(crate) fn id_str(&self) -> &str {
        std::str::from_utf8(&self.id).expect("citizen IDs are ASCII")
    }

    /// Alive and registered here.
    pub(crate) fn is_active(&self) -> bool {
        self.status == Status::Normal
    }
}

/// Whether a GB/T 2261.2 code means currently married.
pub(crate) fn is_married(code: &str) -> bool {
    matches!(code, "20" | "21" | "22")
}

/// GB/T 2261.2 marital status for someone of this age and gender. Marriage is legal from 22
/// (men) and 20 (women); the shares follow the 2020 census in broad strokes.
fn marital_status(rng: &mut Rng, age: u32, male: bool) -> &'static str {
    let minimum = if male { 22 } else { 20 };
    if age < minimum {
        return "10";
    }
    let never = match age {
        ..25 => 0.80,
        25..28 => 0.52,
        28..30 => 0.33,
        30..35 => {
            if male {
                0.22
            } else {
                0.12
            }
        }
        35..40 => 0.08,
        40..50 => 0.045,
        _ => 0.025,
    };
    if rng.chance(never) {
        return "10";
    }
    let widowed = match age {
        ..50 => 0.008,
        50..60 => 0.03,
        60..70 => {
            if male {
                0.06
            } else {
                0.12
            }
        }
        70..80 => {
            if male {
                0.14
            } else {
                0.30
            }
        }
        _ => {
            if male {
                0.32
            } else {
                0.60
            }
        }
    };
    let divorced = match age {
        ..30 => 0.03,
        30..60 => 0.06,
        _ => 0.03,
    };
    let x = rng.unit();
    if x < widowed {
        "30"
    } else if x < widowed + divorced {
        "40"
    } else {
        // Married: first marriage, remarriage, or recorded only as "married".
        match rng.below(100) {
            0..60 => "21",
            60..90 => "20",
            _ => "22",
        }
    }
}

/// Status and date of death.
fn person_status(rng: &mut Rng, age: u32, birth: i32, today: i32) -> (Status, Option<i32>) {
    let death = match age {
        ..50 => 0.002,
        50..65 => 0.012,
        65..75 => 0.035,
        75..85 => 0.09,
        _ => 0.16,
    };
    let x = rng.unit();
    if x < death && birth < today - 1 {
        // Died within the last ten years, after birth, before today.
        let from = (birth + 1).max(today - 3_650);
        return (Status::Dead, Some(rng.range_i32(from, today - 1)));
    }
    let moved = if age >= 16 { 0.015 } else { 0.005 };
    if x < death + moved {
        (Status::MovedOut, None)
    } else if x < death + moved + 0.003 {
        (Status::Cancelled, None)
    } else {
        (Status::Normal, None)
    }
}

/// Writes `YYYYMMDD` into eight bytes.
fn write_date_digits(out: &mut [u8], day: i32) {
    use chrono::Datelike;
    let d = dates::date(day);
    let y = d.year() as u32;
    let digits = [
        y / 1000 % 10,
        y / 100 % 10,
        y / 10 % 10,
        y % 10,
        d.month() / 10,
        d.month() % 10,
        d.day() / 10,
        d.day() % 10,
    ];
    for (o, v) in out.iter_mut().zip(digits) {
        *o = b'0' + v as u8;
    }
}

/// Generates the `count` people registered in `tables.places[place]`, sorted by citizen ID,
/// with spouses paired within the division; `slot` is the division's place in its part.
pub(crate) fn generate(
    tables: &Tables,
    place_index: usize,
    count: usize,
    slot: u32,
) -> Result<Vec<Person>, GenerateError> {
    let place = &tables.places[place_index];
    let today = tables.today;
    let mut rng = Rng::derive(
        tables.seed,
        &[STREAM_PEOPLE, u64::from(place.code.as_u32())],
    );
    let sampler = &tables.samplers[place_index];

    let mut births = Vec::with_capacity(count);
    for _ in 0..count {
        let birth = sampler.sample(&mut rng).ok_or_else(|| {
            GenerateError::Internal(format!(
                "division {} was given people but allows no birth dates",
                place.digits()
            ))
        })?;
        births.push(birth);
    }
    births.sort_unstable();

    let mut people: Vec<Person> = Vec::with_capacity(count);
    let mut id = [0u8; 18];
    id[..6].copy_from_slice(place.digits().as_bytes());
    let mut start = 0;
    while start < births.len() {
        let day = births[start];
        let end = start + births[start..].iter().take_while(|&&b| b == day).count();
        write_date_digits(&mut id[6..14], day);
        // One bit per sequence number 0..=999 already used on this day.
        let mut used = [0u64; 16];
        let mut left = [SEQUENCES_PER_GENDER, SEQUENCES_PER_GENDER]; // [female, male]
        let first = people.len();
        for _ in start..end {
            let mut male = rng.chance(MALE_SHARE);
            if left[usize::from(male)] == 0 {
                male = !male;
            }
            if left[usize::from(male)] == 0 {
                return Err(GenerateError::Crowded {
                    division: place.digits().to_owned(),
                    date: dates::date(day),
                });
            }
            left[usize::from(male)] -= 1;
            let sequence = loop {
                let s = rng.below(SEQUENCES_PER_GENDER) * 2 + u64::from(male);
                let (word, bit) = ((s / 64) as usize, s % 64);
                if used[word] & (1 << bit) == 0 {
                    used[word] |= 1 << bit;
                    break s as u32;
                }
            };
            id[14] = b'0' + (sequence / 100) as u8;
            id[15] = b'0' + (sequence / 10 % 10) as u8;
            id[16] = b'0' + (sequence % 10) as u8;
            let first17: &[u8; 17] = id[..17].try_into().expect("17 bytes");
            id[17] = citizen_id_check_character(first17);
            people.push(Person {
                id,
                name: ShortName::default(),
                birth: day,
                male,
                age: 0,
                ethnicity: "01",
                marital: "10",
                status: Status::Normal,
                death: None,
                spouse: None,
                household: 0,
                residence: Residence::Household,
                updated_ms: 0,
            });
        }
        people[first..].sort_unstable_by_key(|p| p.id);
        start = end;
    }

    let recent = today - 5 * 365;
    for p in &mut people {
        let years = age(p.birth, today);
        p.age = u8::try_from(years).unwrap_or(u8::MAX);
        p.name = tables.names.name(&mut rng, p.male, dates::year(p.birth));
        p.ethnicity = tables.ethnicity.draw(&mut rng, place.province);
        p.marital = marital_status(&mut rng, years, p.male);
        let (status, death) = person_status(&mut rng, years, p.birth, today);
        p.status = status;
        p.death = death;
        p.household = rng.next_u64();
        p.residence = match rng.below(100) {
            _ if status == Status::Dead => Residence::Household,
            0..82 => Residence::Household,
            82..94 => Residence::SameDivision(rng.next_u64()),
            _ => Residence::Elsewhere(tables.destination(&mut rng), rng.next_u64()),
        };
        let from = death.unwrap_or(p.birth.max(recent));
        p.updated_ms = office_timestamp(&mut rng, from, today - 1);
    }

    let mut division = [Division {
        place: place_index,
        people,
    }];
    let candidates = unmatched(&division, slot);
    pair(&mut division, slot, candidates, &mut rng);
    let [Division { people, .. }] = division;
    Ok(people)
}

/// Married, active people without a spouse yet, men and women, each in birth-date order.
fn unmatched(divisions: &[Division], first_slot: u32) -> [Vec<(i32, PersonRef)>; 2] {
    let mut by_gender: [Vec<(i32, PersonRef)>; 2] = [Vec::new(), Vec::new()];
    for (slot, division) in divisions.iter().enumerate() {
        let slot =
            first_slot + u32::try_from(slot).expect("a part has fewer than 4 billion divisions");
        for (index, p) in division.people.iter().enumerate() {
            if p.spouse.is_none() && p.is_active() && is_married(p.marital) {
                let index =
                    u32::try_from(index).expect("a division has fewer than 4 billion people");
                by_gender[usize::from(p.male)].push((p.birth, PersonRef { slot, index }));
            }
        }
    }
    for list in &mut by_gender {
        list.sort_unstable();
    }
    by_gender
}

/// Pairs the married people of a part whom [`generate`] left without a spouse (those of small
/// divisions, mostly) across the part's divisions: their spouses are registered in a
/// neighbouring county, as happens when one of a couple moved for work or marriage.
/// `divisions[i]` is slot `i`.
pub(crate) fn pair_across(tables: &Tables, divisions: &mut [Division]) {
    let Some(first) = divisions.first() else {
        return;
    };
    let code = tables.places[first.place].code.as_u32();
    let mut rng = Rng::derive(tables.seed, &[STREAM_COUPLES, u64::from(code)]);
    let candidates = unmatched(divisions, 0);
    pair(divisions, 0, candidates, &mut rng);
}

/// Pairs men with women by age: a man is matched with the next unmatched woman whose birth
/// date, moved two years earlier, lies between three years before and eight years after his
/// (so husbands are on average a little older). Both get each other as spouse; the couple
/// lives together, and when registered in the same division usually shares a household
/// address. Married people left without a partner have no spouse in the data (their spouse
/// is registered elsewhere). `divisions[i]` is slot `first_slot + i`.
fn pair(
    divisions: &mut [Division],
    first_slot: u32,
    [women, men]: [Vec<(i32, PersonRef)>; 2],
    rng: &mut Rng,
) {
    let local = |r: PersonRef| ((r.slot - first_slot) as usize, r.index as usize);
    let mut j = 0;
    for &(husband_birth, m) in &men {
        let lo = add_years(husband_birth, -3);
        let hi = add_years(husband_birth, 8);
        while j < women.len() && add_years(women[j].0, -2) < lo {
            j += 1;
        }
        let Some(&(wife_birth, w)) = women.get(j) else {
            break;
        };
        if add_years(wife_birth, -2) > hi {
            continue;
        }
        j += 1;
        let ((hs, hi_), (ws, wi)) = (local(m), local(w));
        divisions[hs].people[hi_].spouse = Some(w);
        divisions[ws].people[wi].spouse = Some(m);
        let husband = &divisions[hs].people[hi_];
        let husband_place = divisions[hs].place;
        let husband_household = husband.household;
        // Where the husband lives, as seen from the wife's division.
        let home = match husband.residence {
            Residence::Household if hs == ws => Residence::SameDivision(husband_household),
            Residence::Household | Residence::SameDivision(_) if hs != ws => {
                let seed = match husband.residence {
                    Residence::SameDivision(seed) => seed,
                    _ => husband_household,
                };
                let place = u32::try_from(husband_place).expect("fewer than 4 billion places");
                Residence::Elsewhere(place, seed)
            }
            other => other,
        };
        let wife = &mut divisions[ws].people[wi];
        if hs == ws && rng.chance(0.7) {
            wife.household = husband_household;
        }
        wife.residence = if home == Residence::SameDivision(wife.household) {
            Residence::Household
        } else {
            home
        };
    }
}

/// Arrow builders of the population columns.
#[derive(Debug)]
pub(crate) struct PopulationColumns {
    citizen_id: StringBuilder,
    name: StringBuilder,
    gender_code: StringBuilder,
    ethnicity_code: StringBuilder,
    birth_date: Date32Builder,
    household_division_code: StringBuilder,
    household_address: StringBuilder,
    residence_address: StringBuilder,
    marital_status_code: StringBuilder,
    spouse_citizen_id: StringBuilder,
    person_status: StringBuilder,
    death_date: Date32Builder,
    updated_at: TimestampMillisecondBuilder,
    rows: usize,
}

impl PopulationColumns {
    pub(crate) fn with_capacity(rows: usize) -> PopulationColumns {
        let text = |bytes_per_row: usize| StringBuilder::with_capacity(rows, rows * bytes_per_row);
        PopulationColumns {
            citizen_id: text(18),
            name: text(9),
            gender_code: text(1),
            ethnicity_code: text(2),
            birth_date: Date32Builder::with_capacity(rows),
            household_division_code: text(6),
            household_address: text(96),
            residence_address: text(96),
            marital_status_code: text(2),
            spouse_citizen_id: text(10),
            person_status: text(6),
            death_date: Date32Builder::with_capacity(rows),
            updated_at: TimestampMillisecondBuilder::with_capacity(rows).with_timezone(TIME_ZONE),
            rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// Appends rows `rows` of the division in slot `slot` of `divisions` (the part's
    /// divisions, where spouses are looked up).
    pub(crate) fn append(
        &mut self,
        tables: &Tables,
        divisions: &[Division],
        slot: usize,
        rows: std::ops::Range<usize>,
    ) {
        let place = &tables.places[divisions[slot].place];
        let people = &divisions[slot].people;
        let mut household = String::with_capacity(128);
        let mut residence = String::with_capacity(128);
        let appended = rows.len();
        for p in &people[rows] {
            self.citizen_id.append_value(p.id_str());
            self.name.append_value(p.name.as_str());
            self.gender_code
                .append_value(if p.male { "1" } else { "2" });
            self.ethnicity_code.append_value(p.ethnicity);
            self.birth_date.append_value(p.birth);
            self.household_division_code.append_value(place.digits());
            household.clear();
            tables
                .addresses
                .home(&mut household, &mut Rng::new(p.household), place);
            self.household_address.append_value(&household);
            match p.residence {
                Residence::Household => self.residence_address.append_value(&household),
                Residence::SameDivision(seed) => {
                    residence.clear();
                    tables
                        .addresses
                        .home(&mut residence, &mut Rng::new(seed), place);
                    self.residence_address.append_value(&residence);
                }
                Residence::Elsewhere(other, seed) => {
                    residence.clear();
                    let other = &tables.places[other as usize];
                    tables
                        .addresses
                        .home(&mut residence, &mut Rng::new(seed), other);
                    self.residence_address.append_value(&residence);
                }
            }
            self.marital_status_code.append_value(p.marital);
            match p.spouse {
                Some(r) => self
                    .spouse_citizen_id
                    .append_value(divisions[r.slot as usize].people[r.index as usize].id_str()),
                None => self.spouse_citizen_id.append_null(),
            }
            self.person_status.append_value(p.status.label());
            self.death_date.append_option(p.death);
            self.updated_at.append_value(p.updated_ms);
        }
        self.rows += appended;
    }

    /// The rows appended so far as a batch.
    pub(crate) fn finish(mut self) -> Result<RecordBatch, GenerateError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.citizen_id.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.gender_code.finish()),
            Arc::new(self.ethnicity_code.finish()),
            Arc::new(self.birth_date.finish()),
            Arc::new(self.household_division_code.finish()),
            Arc::new(self.household_address.finish()),
            Arc::new(self.residence_address.finish()),
            Arc::new(self.marital_status_code.finish()),
            Arc::new(self.spouse_citizen_id.finish()),
            Arc::new(self.person_status.finish()),
            Arc::new(self.death_date.finish()),
            Arc::new(self.updated_at.finish()),
        ];
        RecordBatch::try_new(BaseLibrary::Population.schema(), columns)
            .map_err(|e| GenerateError::Internal(format!("population batch: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marital_status_respects_the_legal_age() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            assert_eq!(marital_status(&mut rng, 21, true), "10");
            assert_eq!(marital_status(&mut rng, 19, false), "10");
        }
        let married = (0..10_000)
            .filter(|_| is_married(marital_status(&mut rng, 45, true)))
            .count();
        assert!(married > 8_000, "{married}");
    }

    #[test]
    fn date_digits_are_yyyymmdd() {
        let mut out = [0u8; 8];
        let day = dates::days(chrono::NaiveDate::from_ymd_opt(1998, 6, 21).expect("date"));
        write_date_digits(&mut out, day);
        assert_eq!(&out, b"19980621");
    }
}
