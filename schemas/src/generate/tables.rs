//! Read-only lookup tables of one generator run, built once and shared by every thread.

use super::GeneratorConfig;
use super::credit::CreditTables;
use super::dates::{self, BirthSampler};
use super::entities::EntityTables;
use super::names::NameTable;
use super::places::{AddressTable, EthnicityTable, Place, is_residential};
use super::rng::{Rng, Weighted};
use crate::id::DivisionCode;

/// Everything a division's generator reads.
#[derive(Debug)]
pub(crate) struct Tables {
    pub(crate) seed: u64,
    /// `Date32` of the run's `today`.
    pub(crate) today: i32,
    pub(crate) entities_per_person: f64,
    pub(crate) credit_per_entity: f64,
    pub(crate) names: NameTable,
    pub(crate) addresses: AddressTable,
    pub(crate) ethnicity: EthnicityTable,
    pub(crate) entities: EntityTables,
    pub(crate) credit: CreditTables,
    /// Every division people can be registered in, current and withdrawn, in code order.
    pub(crate) places: Vec<Place>,
    /// Birth-date sampler of each place (same index).
    pub(crate) samplers: Vec<BirthSampler>,
    /// Where people who live away from their registration live: current divisions, the seed
    /// cities favoured.
    destinations: Weighted,
    destination_places: Vec<u32>,
}

impl Tables {
    pub(crate) fn new(config: &GeneratorConfig) -> Tables {
        let today = dates::days(config.today);
        let places: Vec<Place> = DivisionCode::all()
            .filter(|&code| is_residential(code))
            .map(Place::new)
            .collect();
        let samplers = places
            .iter()
            .map(|p| {
                BirthSampler::new(
                    today,
                    p.born_from.map(dates::days),
                    p.born_before.map(dates::days),
                )
            })
            .collect();
        let mut destination_places = Vec::new();
        let mut weights = Vec::new();
        for (i, place) in places.iter().enumerate() {
            if place.code.is_current() {
                destination_places.push(u32::try_from(i).expect("fewer than 4 billion divisions"));
                weights.push(if place.seed { 20 } else { 1 });
            }
        }
        Tables {
            seed: config.seed,
            today,
            entities_per_person: config.entities_per_person,
            credit_per_entity: config.credit_records_per_entity,
            names: NameTable::new(),
            addresses: AddressTable::new(),
            ethnicity: EthnicityTable::new(),
            entities: EntityTables::new(),
            credit: CreditTables::new(),
            places,
            samplers,
            destinations: Weighted::new(weights),
            destination_places,
        }
    }

    /// A current division for someone living away from home (index into `places`).
    pub(crate) fn destination(&self, rng: &mut Rng) -> u32 {
        self.destination_places[self.destinations.sample(rng)]
    }
}
