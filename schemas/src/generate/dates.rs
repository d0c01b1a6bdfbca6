//! Day arithmetic in Arrow's `Date32` representation (days since 1970-01-01), and the age
//! structure synthetic people are drawn from.
//!
//! The generator works in day numbers because it sorts, compares and stores millions of dates;
//! chrono is used only where calendars matter (years of age, month arithmetic, formatting).

use chrono::{Datelike, Months, NaiveDate};

use super::rng::{Rng, Weighted};

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// Milliseconds per day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// Beijing time is UTC+8 all year.
const BEIJING_OFFSET_MS: i64 = 8 * 3_600_000;

/// The `Date32` value of a date.
pub(crate) fn days(date: NaiveDate) -> i32 {
    date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

/// The date of a `Date32` value inside chrono's range (every day the generator makes is).
pub(crate) fn date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + UNIX_EPOCH_DAYS_FROM_CE)
        .expect("generated days lie between 1900 and 2200")
}

/// `days` moved by a number of months (negative: back), clamping at month ends.
pub(crate) fn add_months(days_value: i32, months: i32) -> i32 {
    let d = date(days_value);
    let moved = if months >= 0 {
        d.checked_add_months(Months::new(months.unsigned_abs()))
    } else {
        d.checked_sub_months(Months::new(months.unsigned_abs()))
    };
    days(moved.expect("generated dates stay far from chrono's limits"))
}

/// `days` moved by whole years.
pub(crate) fn add_years(days_value: i32, years: i32) -> i32 {
    add_months(days_value, years * 12)
}

/// Completed years of age on `at` of someone born on `birth` (0 if not yet born).
pub(crate) fn age(birth: i32, at: i32) -> u32 {
    date(at).years_since(date(birth)).unwrap_or(0)
}

/// A timestamp (milliseconds since the Unix epoch, UTC) during office hours, Beijing time, on
/// a uniformly chosen day in `from..=to`.
pub(crate) fn office_timestamp(rng: &mut Rng, from: i32, to: i32) -> i64 {
    let day = rng.range_i32(from, to.max(from));
    // 08:30 to 18:00 local time.
    let local_ms = 8 * 3_600_000 + 30 * 60_000 + rng.below(9 * 3_600_000 + 30 * 60_000) as i64;
    i64::from(day) * DAY_MS + local_ms - BEIJING_OFFSET_MS
}

/// Population by five-year age group (0–4, 5–9, … 95–99), in units of 100,000 people, from
/// the 2020 census. Synthetic people follow this pyramid within the dates their division
/// code allows.
const AGE_GROUPS: [u32; 20] = [
    779, 902, 853, 727, 749, 919, 1241, 990, 930, 1142, 1212, 1014, 734, 740, 496, 310, 204, 106,
    35, 8,
];

/// Draws birth dates from the census pyramid restricted to a window of allowed dates.
#[derive(Debug)]
pub(crate) struct BirthSampler {
    /// Per age group, the allowed days `(first, last)`; empty groups have weight 0.
    spans: Vec<(i32, i32)>,
    table: Option<Weighted>,
    /// Share of the whole pyramid the window keeps, in `[0, 1]`.
    coverage: f64,
}

impl BirthSampler {
    /// A sampler for people alive on `today` born in `from..before` (either bound optional).
    pub(crate) fn new(today: i32, from: Option<i32>, before: Option<i32>) -> BirthSampler {
        let lo = from.unwrap_or(i32::MIN);
        let hi = before.map_or(today, |b| (b - 1).min(today));
        let total: u32 = AGE_GROUPS.iter().sum();
        let mut spans = Vec::with_capacity(AGE_GROUPS.len());
        let mut weights = Vec::with_capacity(AGE_GROUPS.len());
        let mut coverage = 0.0;
        for (group, &weight) in AGE_GROUPS.iter().enumerate() {
            let years = 5 * group as i32;
            // Ages years..years+5: born after today - (years + 5) years, up to today - years.
            let last = add_years(today, -years);
            let first = add_years(today, -(years + 5)) + 1;
            let span_lo = first.max(lo);
            let span_hi = last.min(hi);
            let full = f64::from(last - first + 1);
            let kept = f64::from((span_hi - span_lo + 1).max(0));
            let share = f64::from(weight) * kept / full;
            coverage += share / f64::from(total);
            spans.push((span_lo, span_hi));
            // Integer weights for the table: parts per billion of the pyramid.
            weights.push((share / f64::from(total) * 1e9) as u64);
        }
        let table = (weights.iter().sum::<u64>() > 0).then(|| Weighted::new(weights));
        BirthSampler {
            spans,
            table,
            coverage,
        }
    }

    /// Share of the population pyramid whose birth dates fall in the window.
    pub(crate) fn coverage(&self) -> f64 {
        if self.table.is_some() {
            self.coverage
        } else {
            0.0
        }
    }

    /// A birth date (`Date32`), or `None` if the window allows none.
    pub(crate) fn sample(&self, rng: &mut Rng) -> Option<i32> {
        let table = self.table.as_ref()?;
        let (lo, hi) = self.spans[table.sample(rng)];
        Some(rng.range_i32(lo, hi))
    }
}

/// The year of a `Date32` value.
pub(crate) fn year(days_value: i32) -> i32 {
    date(days_value).year()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_numbers_round_trip() {
        let d = NaiveDate::from_ymd_opt(2024, 2, 29).expect("leap day");
        assert_eq!(days(NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")), 0);
        assert_eq!(date(days(d)), d);
        assert_eq!(
            date(add_years(days(d), 1)),
            NaiveDate::from_ymd_opt(2025, 2, 28).expect("d")
        );
        let born = days(NaiveDate::from_ymd_opt(2004, 7, 15).expect("date"));
        assert_eq!(age(born, add_years(born, 18) - 1), 17);
        assert_eq!(age(born, add_years(born, 18)), 18);
        // Someone born on 29 February comes of age on 1 March in common years.
        assert_eq!(age(days(d), add_years(days(d), 18)), 17);
        assert_eq!(age(days(d), add_years(days(d), 18) + 1), 18);
    }

    #[test]
    fn births_stay_in_the_window() {
        let today = days(NaiveDate::from_ymd_opt(2025, 6, 30).expect("date"));
        let from = days(NaiveDate::from_ymd_opt(1988, 12, 1).expect("date"));
        let before = days(NaiveDate::from_ymd_opt(2009, 12, 1).expect("date"));
        let sampler = BirthSampler::new(today, Some(from), Some(before));
        assert!(
            sampler.coverage() > 0.1 && sampler.coverage() < 0.4,
            "{}",
            sampler.coverage()
        );
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let b = sampler.sample(&mut rng).expect("window is not empty");
            assert!((from..before).contains(&b));
        }
        let open = BirthSampler::new(today, None, None);
        assert!((open.coverage() - 1.0).abs() < 1e-9);
        let empty = BirthSampler::new(today, Some(today + 10), None);
        assert_eq!(empty.sample(&mut rng), None);
        assert_eq!(empty.coverage(), 0.0);
    }

    #[test]
    fn office_timestamps_fall_in_beijing_office_hours() {
        let mut rng = Rng::new(2);
        for _ in 0..1_000 {
            let ms = office_timestamp(&mut rng, 20_000, 20_000);
            let local = (ms + BEIJING_OFFSET_MS).rem_euclid(DAY_MS);
            assert!((8 * 3_600_000..18 * 3_600_000).contains(&local));
            assert_eq!((ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS), 20_000);
        }
    }
}
