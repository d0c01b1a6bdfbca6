//! One shared world of keys, trust list and status lists for the integration tests.

use std::sync::LazyLock;

use tongban_certs::{
    Alg, Face, Holder, IssueRequest, IssuedLicence, Issuer, LicenceType, Limits, SigningKey,
    StatusList, StatusLists, StatusRef, TrustEntry, TrustList, TrustStore, VerifiedStatusList,
    VerifyingKey, issue,
};
use tongban_schemas::id::{DivisionCode, Uscc};

/// 2025-06-15T15:06:40Z, the moment every test happens at.
pub const NOW: i64 = 1_750_000_000;
pub const YEAR: i64 = 365 * 86_400;
pub const MARKET_STATUS_URI: &str = "https://tongban.example/status/market-regulation/1";
pub const POLICE_STATUS_URI: &str = "https://tongban.example/status/public-security/1";
pub const CIVIL_STATUS_URI: &str = "https://tongban.example/status/civil-affairs/1";
pub const ENTITY_USCC: &str = "91110000600037341L";
pub const CITIZEN_ID: &str = "110101199003070011";
pub const SPOUSE_ID: &str = "210202198511150027";

pub struct World {
    pub anchor: SigningKey,
    pub market: SigningKey,
    pub market_food_only: SigningKey,
    pub market_retired: SigningKey,
    pub police: SigningKey,
    pub civil: SigningKey,
    pub untrusted: SigningKey,
    pub holder: SigningKey,
    pub trust_token: String,
    pub trust: TrustStore,
    pub market_status: StatusList,
    pub status_lists: StatusLists,
    pub dept_uscc: Uscc,
}

fn key(alg: Alg) -> SigningKey {
    SigningKey::generate(alg).expect("key generation")
}

fn entry(
    dept: &str,
    key: &SigningKey,
    types: &[LicenceType],
    from: i64,
    until: Option<i64>,
) -> TrustEntry {
    TrustEntry {
        department: dept.to_owned(),
        key: key.verifying_key().clone(),
        licence_types: types.to_vec(),
        status_lists: true,
        issue_from: from,
        issue_until: until,
    }
}

pub static WORLD: LazyLock<World> = LazyLock::new(|| {
    let anchor = key(Alg::Es256);
    let market = key(Alg::Es256);
    let market_food_only = key(Alg::Es256);
    let market_retired = key(Alg::Es256);
    let police = key(Alg::EdDsa);
    let civil = key(Alg::Rs256);
    let untrusted = key(Alg::Es256);
    let holder = key(Alg::Es256);
    let business = [
        LicenceType::BusinessLicence,
        LicenceType::FoodBusinessLicence,
    ];
    let list = TrustList {
        entries: vec![
            entry(
                "market-regulation",
                &market_retired,
                &business,
                NOW - 2 * YEAR,
                Some(NOW - YEAR),
            ),
            entry("market-regulation", &market, &business, NOW - YEAR, None),
            entry(
                "market-regulation",
                &market_food_only,
                &[LicenceType::FoodBusinessLicence],
                NOW - YEAR,
                None,
            ),
            entry(
                "public-security",
                &police,
                &[LicenceType::IdCard],
                NOW - YEAR,
                None,
            ),
            entry(
                "civil-affairs",
                &civil,
                &[LicenceType::MarriageCertificate],
                NOW - YEAR,
                None,
            ),
        ],
    };
    let trust_token = list
        .sign(&anchor, "data-bureau", NOW - 60, Some(NOW + 30 * 86_400))
        .expect("sign trust list");
    let trust = TrustStore::from_token(&trust_token, anchor.verifying_key(), &Limits::default())
        .expect("trust list verifies");
    let market_status = StatusList::new(16 * 1024);
    let mut status_lists = StatusLists::new();
    for (k, dept, uri) in [
        (&market, "market-regulation", MARKET_STATUS_URI),
        (&police, "public-security", POLICE_STATUS_URI),
        (&civil, "civil-affairs", CIVIL_STATUS_URI),
    ] {
        status_lists.insert(signed_list(&trust, k, dept, uri, &market_status));
    }
    World {
        anchor,
        market,
        market_food_only,
        market_retired,
        police,
        civil,
        untrusted,
        holder,
        trust_token,
        trust,
        market_status,
        status_lists,
        dept_uscc: Uscc::from_parts(
            '1',
            '1',
            DivisionCode::parse("131000").expect("demo division"),
            "01310007",
        )
        .expect("valid USCC"),
    }
});

/// Signs `list` as `dept`'s list at `uri` and loads it back through verification.
pub fn signed_list(
    trust: &TrustStore,
    key: &SigningKey,
    dept: &str,
    uri: &str,
    list: &StatusList,
) -> VerifiedStatusList {
    let token = list
        .sign(key, dept, uri, NOW - 30, Some(NOW + 86_400), Some(300))
        .expect("sign status list");
    VerifiedStatusList::from_token(&token, trust, Some(uri), &Limits::default())
        .expect("status list verifies")
}

pub fn face(pairs: &[(&str, &str)]) -> Face {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn business_face() -> Face {
    face(&[
        ("uscc", ENTITY_USCC),
        ("name", "廊坊示例科技有限公司"),
        ("entity_type", "有限责任公司"),
        ("legal_rep_name", "张三"),
        ("registered_capital", "100.5"),
        ("established_date", "2020-01-02"),
        ("term_from", "2020-01-02"),
        ("term_to", "长期"),
        ("address", "河北省廊坊市广阳区示例路1号"),
        ("business_scope", "技术开发、技术服务"),
        ("registration_authority", "廊坊市市场监督管理局"),
        ("issue_date", "2020-01-02"),
    ])
}

pub fn id_card_face() -> Face {
    face(&[
        ("name", "张三"),
        ("gender", "1"),
        ("ethnicity", "汉"),
        ("birth_date", "1990-03-07"),
        ("address", "北京市东城区示例胡同1号"),
        ("citizen_id", CITIZEN_ID),
        ("issuing_authority", "北京市公安局东城分局"),
        ("valid_from", "2016-05-01"),
        ("valid_to", "2036-05-01"),
    ])
}

pub fn marriage_face() -> Face {
    face(&[
        ("certificate_number", "J131002-2021-000123"),
        ("holder_name", "张三"),
        ("registration_date", "2021-05-20"),
        ("husband_name", "张三"),
        ("husband_id", CITIZEN_ID),
        ("wife_name", "李四"),
        ("wife_id", SPOUSE_ID),
        ("registration_authority", "廊坊市广阳区民政局"),
    ])
}

pub fn business_request(idx: u32, holder_key: Option<VerifyingKey>) -> IssueRequest {
    IssueRequest {
        licence_type: LicenceType::BusinessLicence,
        holder: Holder::parse("001", ENTITY_USCC).expect("valid holder"),
        face: business_face(),
        status: StatusRef {
            list: 1,
            idx,
            uri: MARKET_STATUS_URI.to_owned(),
        },
        version: 1,
        holder_key,
    }
}

/// Issues a business licence with `key` as the market-regulation key, at `now`.
pub fn issue_business_with(key: &SigningKey, idx: u32, now: i64) -> IssuedLicence {
    let w = &*WORLD;
    issue(
        &business_request(idx, Some(w.holder.verifying_key().clone())),
        &Issuer {
            department: "market-regulation",
            uscc: &w.dept_uscc,
            key,
        },
        now,
    )
    .expect("issue")
}

pub fn issue_business(idx: u32) -> IssuedLicence {
    issue_business_with(&WORLD.market, idx, NOW)
}
