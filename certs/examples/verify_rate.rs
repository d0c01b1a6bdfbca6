//! Measures single-core ES256 licence verification against raw OpenSSL, side by side.
//!
//! Three operations run over the same set of business licences, each with every one of its 12
//! face fields disclosed and a status reference:
//!
//! - **raw OpenSSL**: SHA-256 of the JWS signing input and `ECDSA_do_verify` with a key
//!   imported and a signature decoded before the clock starts, which is the least work any
//!   ES256 verifier can do;
//! - **signature step**: [`VerifyingKey::verify`] as `verify` calls it, with its range checks;
//! - **full verify**: [`verify`] of the whole presentation, every check included.
//!
//! The three are interleaved in rounds of the same number of iterations on the same thread,
//! so background load falls on all of them alike, and each rate is the total iterations over
//! the total time spent in that operation. The figure that matters is the ratio of the full
//! verify rate to the raw OpenSSL rate.
//!
//! Run with `cargo run --release -p tongban-certs --example verify_rate`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Public;
use openssl::sha::Sha256;
use tongban_certs::strict::b64url_decode;
use tongban_certs::{
    Alg, Holder, IssueRequest, Issuer, LicenceType, Limits, SigningKey, StatusList, StatusLists,
    StatusRef, TrustEntry, TrustList, TrustStore, VerifiedStatusList, VerifyPolicy, issue, verify,
};
use tongban_schemas::id::Uscc;

const NOW: i64 = 1_750_000_000;
const URI: &str = "https://tongban.example/status/market-regulation/1";
/// Distinct licences in the token set (different status entries, salts and signatures).
const TOKENS: u32 = 16;
/// Iterations of each operation per round; a multiple of `TOKENS`.
const PER_ROUND: usize = 512;
/// How long the interleaved measurement runs in total.
const MEASURE: Duration = Duration::from_secs(12);

/// A raw OpenSSL ES256 check of one token: the signing input and the decoded signature.
struct RawCase {
    input: Vec<u8>,
    signature: EcdsaSig,
}

fn raw_key(key: &SigningKey) -> anyhow::Result<EcKey<Public>> {
    let jwk = key.verifying_key().to_jwk();
    let coordinate = |name: &str| -> anyhow::Result<BigNum> {
        let text = jwk
            .get(name)
            .and_then(|v| v.as_str())
            .ok_or_else(|| anyhow::anyhow!("the JWK has no {name}"))?;
        Ok(BigNum::from_slice(&b64url_decode(text, "JWK")?)?)
    };
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let (x, y) = (coordinate("x")?, coordinate("y")?);
    let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
    // Whatever a verifier does at load time is outside the loop, for both sides alike.
    key.check_key()?;
    Ok(key)
}

fn raw_case(token: &str) -> anyhow::Result<RawCase> {
    let jwt = token.split('~').next().unwrap_or_default();
    let (input, signature) = jwt
        .rsplit_once('.')
        .ok_or_else(|| anyhow::anyhow!("not a compact JWS"))?;
    let signature = b64url_decode(signature, "signature")?;
    anyhow::ensure!(signature.len() == 64, "an ES256 signature has 64 bytes");
    let (r, s) = signature.split_at(32);
    Ok(RawCase {
        input: input.as_bytes().to_vec(),
        signature: EcdsaSig::from_private_components(
            BigNum::from_slice(r)?,
            BigNum::from_slice(s)?,
        )?,
    })
}

/// Time spent and iterations done by one operation across all rounds.
#[derive(Default)]
struct Tally {
    elapsed: Duration,
    iterations: usize,
}

impl Tally {
    fn round(&mut self, mut op: impl FnMut(usize)) {
        let start = Instant::now();
        for i in 0..PER_ROUND {
            op(i);
        }
        self.elapsed += start.elapsed();
        self.iterations += PER_ROUND;
    }

    fn rate(&self) -> f64 {
        self.iterations as f64 / self.elapsed.as_secs_f64()
    }
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
    let face: tongban_certs::Face = [
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
    let issuer = Issuer {
        department: "market-regulation",
        uscc: &uscc,
        key: &key,
    };
    let tokens = (0..TOKENS)
        .map(|idx| {
            let request = IssueRequest {
                licence_type: LicenceType::BusinessLicence,
                holder: Holder::parse("001", "91110000600037341L")?,
                face: face.clone(),
                status: StatusRef {
                    list: 1,
                    idx: 5 + idx,
                    uri: URI.into(),
                },
                version: 1,
                holder_key: None,
            };
            Ok(issue(&request, &issuer, NOW)?.token)
        })
        .collect::<anyhow::Result<Vec<String>>>()?;
    let policy = VerifyPolicy::default();
    let raw_key = raw_key(&key)?;
    let raw_cases = tokens
        .iter()
        .map(|t| raw_case(t))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let vk = key.verifying_key().clone();
    let sig_cases: Vec<(&[u8], Vec<u8>)> = tokens
        .iter()
        .zip(&raw_cases)
        .map(|(t, raw)| {
            let jwt = t.split('~').next().unwrap_or_default();
            let sig = jwt.rsplit_once('.').map(|(_, s)| s).unwrap_or_default();
            Ok((raw.input.as_slice(), b64url_decode(sig, "signature")?))
        })
        .collect::<anyhow::Result<_>>()?;
    for t in &tokens {
        verify(t, &trust, &lists, &policy, NOW)?;
    }
    println!(
        "token set: {} licences of {} bytes, 12 disclosures each; {PER_ROUND} iterations per \
         operation per round",
        tokens.len(),
        tokens[0].len()
    );

    let n = tokens.len();
    let raw_op = |i: usize| {
        let case = &raw_cases[i % n];
        // The low-level hasher: OpenSSL 3's one-shot `SHA256()` fetches the algorithm from
        // its provider on every call, which would slow the baseline down.
        let mut hasher = Sha256::new();
        hasher.update(black_box(&case.input));
        let digest = hasher.finish();
        let ok = case.signature.verify(&digest, &raw_key);
        assert!(matches!(ok, Ok(true)), "raw OpenSSL refused a valid token");
    };
    let sig_op = |i: usize| {
        let (input, sig) = &sig_cases[i % n];
        assert!(vk.verify(black_box(input), sig).is_ok());
    };
    let full_op = |i: usize| {
        let token = black_box(tokens[i % n].as_str());
        assert!(verify(token, &trust, &lists, &policy, NOW).is_ok());
    };
    // Warm caches and CPU frequency on all three before anything is counted.
    let (mut raw, mut sig, mut full) = (Tally::default(), Tally::default(), Tally::default());
    for _ in 0..2 {
        raw.round(raw_op);
        sig.round(sig_op);
        full.round(full_op);
    }
    let (mut raw, mut sig, mut full) = (Tally::default(), Tally::default(), Tally::default());
    let start = Instant::now();
    let mut rounds = 0;
    while start.elapsed() < MEASURE {
        // Alternate the order so that neither side always runs right after the other.
        if rounds % 2 == 0 {
            raw.round(raw_op);
            sig.round(sig_op);
            full.round(full_op);
        } else {
            full.round(full_op);
            sig.round(sig_op);
            raw.round(raw_op);
        }
        rounds += 1;
    }
    let (raw_rate, sig_rate, full_rate) = (raw.rate(), sig.rate(), full.rate());
    println!("rounds: {rounds}");
    println!("raw OpenSSL ES256 verify:          {raw_rate:>8.0}/s");
    println!(
        "signature step (VerifyingKey):     {sig_rate:>8.0}/s  {:>5.1} % of raw",
        100.0 * sig_rate / raw_rate
    );
    println!(
        "full licence verify (12 disc.):    {full_rate:>8.0}/s  {:>5.1} % of raw",
        100.0 * full_rate / raw_rate
    );
    println!("ratio full/raw: {:.3}", full_rate / raw_rate);
    Ok(())
}
