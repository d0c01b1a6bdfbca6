//! Property tests: issue → present → verify round trips, and single-byte tampering.

use std::sync::LazyLock;

use proptest::prelude::*;
use tongban_certs::{IssuedLicence, LicenceType, Limits, VerifyPolicy, present, verify};

use crate::common::{NOW, WORLD, issue_business};

static LICENCE: LazyLock<IssuedLicence> = LazyLock::new(|| issue_business(40));

fn field_names() -> Vec<&'static str> {
    LicenceType::BusinessLicence
        .fields()
        .iter()
        .map(|f| f.name)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any subset of face fields presents and verifies to exactly that subset.
    #[test]
    fn any_subset_round_trips(mask in 0u32..(1 << 12), fresh in any::<bool>(), idx in 100u32..16_000) {
        let w = &*WORLD;
        let fresh_licence;
        let licence = if fresh { fresh_licence = issue_business(idx); &fresh_licence } else { &*LICENCE };
        let names = field_names();
        let chosen: Vec<&str> = names.iter().enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0).map(|(_, n)| *n).collect();
        let presented = present(&licence.token, &chosen, None, &Limits::default()).expect("present");
        let verified = verify(&presented, &w.trust, &w.status_lists, &VerifyPolicy::default(), NOW)
            .expect("verifies");
        let mut got: Vec<&str> = verified.disclosed.keys().map(String::as_str).collect();
        let mut want = chosen.clone();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want);
        prop_assert_eq!(&verified.id, &licence.id);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Changing any single byte of the token to any other printable byte is refused.
    #[test]
    fn any_single_byte_change_is_refused(pos in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
        let w = &*WORLD;
        let token = LICENCE.token.as_bytes();
        let i = pos.index(token.len());
        prop_assume!(token[i] != byte);
        let mut changed = token.to_vec();
        changed[i] = byte;
        let changed = String::from_utf8(changed).expect("ASCII");
        let result = verify(&changed, &w.trust, &w.status_lists, &VerifyPolicy::default(), NOW);
        prop_assert!(result.is_err(), "byte {} changed to {:?} was accepted", i, char::from(byte));
    }
}
