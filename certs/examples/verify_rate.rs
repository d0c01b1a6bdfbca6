//! Measures single-core ES256 verification: the raw signature check through a cached
//! `VerifyingKey`, and the whole `verify` of a business licence with every face field
//! disclosed. Run with `cargo run --release -p tongban-certs --example verify_rate`.

use std::time::{Duration, Instant};

use tongban_certs::{
    Alg, Holder, IssueRequest, Issuer, LicenceType, Limits, SigningKey, StatusList, StatusLists,
    StatusRef, TrustEntry, TrustList, TrustStore, VerifiedStatusList, VerifyPolicy, issue, verify,
};
use tongban_schemas::id::Uscc;

const NOW: i64 = 1_750_000_000;
const URI: &str = "https://tongban.example/status/market-regulation/1";

fn rate(label: &str, mut op: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        op();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        for _ in 0..100 {
            op();
        }
        n += 100;
    }
    let per_sec = n as f64 / start.elapsed().as_secs_f64();
    println!("{label}: {per_sec:.0}/s");
    per_sec
}

fn main() -> anyhow::Result<()> {
    let anchor = SigningKey::generate(Alg::Es256)?;
    let key = SigningKey::generate(Alg::Es256)?;
    let list = TrustList {
        entries: vec![TrustEntry {
            department: "market-regulation".into(),
            key: key.verifying_key().clone(),
            licence_types: vec![LicenceType::BusinessLicence],
            status_lists: true,
            issue_from: NOW - 86_400,
            issue_until: None,
        }],
    };
    let limits = Limits::default();
    let trust = TrustStore::from_token(
        &list.sign(&anchor, "data-bureau", NOW, None)?,
        anchor.verifying_key(),
        &limits,
    )?;
    let status_token =
        StatusList::new(16 * 1024).sign(&key, "market-regulation", URI, NOW, None, None)?;
    let mut lists = StatusLists::new();
    lists.insert(VerifiedStatusList::from_token(
        &status_token,
        &trust,
        Some(URI),
        &limits,
    )?);
    let face = [
        ("uscc", "91110000600037341L"),
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
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let uscc = Uscc::parse("11100000000013338W")?;
    let issued = issue(
        &IssueRequest {
            licence_type: LicenceType::BusinessLicence,
            holder: Holder::parse("001", "91110000600037341L")?,
            face,
            status: StatusRef {
                list: 1,
                idx: 5,
                uri: URI.into(),
            },
            version: 1,
            holder_key: None,
        },
        &Issuer {
            department: "market-regulation",
            uscc: &uscc,
            key: &key,
        },
        NOW,
    )?;
    println!("token bytes: {}", issued.token.len());
    let policy = VerifyPolicy::default();
    let jwt = issued.token.split('~').next().unwrap_or_default();
    let (input, sig) = jwt.rsplit_once('.').unwrap_or_default();
    let sig = tongban_certs::strict::b64url_decode(sig, "signature")?;
    let vk = key.verifying_key().clone();
    rate("raw ES256 signature check (cached key)", || {
        assert!(vk.verify(input.as_bytes(), &sig).is_ok());
    });
    rate("full licence verify (12 disclosures, status)", || {
        assert!(verify(&issued.token, &trust, &lists, &policy, NOW).is_ok());
    });
    Ok(())
}
