//! E-licences in the hub: the issuing departments' keys and the trust-list anchor, status
//! lists, the registry of issued licences, and the verifier the window uses.
//!
//! Keys live in the store (created on first start: ES256 for every issuing department, and
//! the data bureau's anchor that signs the trust list). The trust store and the status lists
//! are kept in memory, ready for verification, and replaced whole when a key or a status
//! changes, so a verification never waits for the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tongban_catalog::query::{Access, Grant, GrantSource, QueryEngine};
use tongban_certs::{
    Alg, Holder, HolderKind, IssueRequest, IssuedLicence, Issuer, LicenceError, LicenceStatus,
    LicenceType, Party, SigningKey, StatusList, StatusLists, StatusRef, TrustEntry, TrustList,
    TrustStore, VerifiedLicence, VerifiedStatusList, VerifyPolicy,
};
use tongban_schemas::{BaseLibrary, Uscc};

use crate::error::ApiError;
use crate::store::{KeyRecord, LicenceRecord, Store, StoreError};

/// Entries per status list (2 bits each: 16 KiB).
pub const STATUS_LIST_CAPACITY: usize = 65_536;

/// The department whose key signs the trust list.
pub const ANCHOR_DEPARTMENT: &str = "data-bureau";

/// Seconds a published trust list or status list is valid for.
const PUBLISHED_LIFETIME: i64 = 24 * 3600;

/// What verification needs, replaced whole on change.
#[derive(Debug)]
struct Keys {
    trust: TrustStore,
    trust_list: TrustList,
    anchor: SigningKey,
    /// The key in service per issuing department.
    signing: HashMap<String, SigningKey>,
}

/// The hub's e-licence service.
#[derive(Debug)]
pub struct Licences {
    store: Store,
    base_url: String,
    policy: VerifyPolicy,
    keys: RwLock<Arc<Keys>>,
    lists: RwLock<Arc<StatusLists>>,
    /// Raw lists by (department, list number), to sign them for publication.
    raw: RwLock<HashMap<(String, i64), (StatusList, i64)>>,
    /// The store's licence generation the keys and lists above were read at.
    generation: std::sync::atomic::AtomicI64,
}

/// A licence error as an API error: the caller's fault is a 4xx with the licence's own code.
pub fn api_error(e: LicenceError) -> ApiError {
    match e.party() {
        Party::Caller => ApiError::Invalid {
            code: e.code(),
            message: e.to_string(),
        },
        Party::Operator | Party::Internal => ApiError::Internal(format!("{}: {e}", e.code())),
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Licences {
    /// Loads keys and status lists, creating the keys the hub lacks.
    pub async fn load(store: Store, base_url: String) -> Result<Licences, ApiError> {
        let now = now_secs();
        // Read before the keys and lists: a change made meanwhile leaves this behind, and
        // the first refresh catches up.
        let generation = store.licences_generation().await?;
        let mut records = store.licence_keys().await?;
        let mut wanted: Vec<&str> = LicenceType::ALL
            .iter()
            .map(|t| t.issuing_department())
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut missing: Vec<(&str, bool)> = Vec::new();
        if !records.iter().any(|k| k.anchor && k.issue_until.is_none()) {
            missing.push((ANCHOR_DEPARTMENT, true));
        }
        for dept in wanted {
            if !records
                .iter()
                .any(|k| !k.anchor && k.department == dept && k.issue_until.is_none())
            {
                missing.push((dept, false));
            }
        }
        for (dept, anchor) in missing {
            let key = SigningKey::generate(Alg::Es256).map_err(api_error)?;
            let types: Vec<&str> = LicenceType::ALL
                .iter()
                .filter(|t| !anchor && t.issuing_department() == dept)
                .map(|t| t.slug())
                .collect();
            let record = KeyRecord {
                kid: key.kid().to_owned(),
                department: dept.to_owned(),
                alg: key.alg().name().to_owned(),
                private_jwk: key.to_private_jwk_json(),
                licence_types: types.join(","),
                anchor,
                issue_from: now,
                issue_until: None,
            };
            store.insert_licence_key(&record).await?;
            records.push(record);
        }
        let keys = build_keys(&records, now)?;
        let licences = Licences {
            store,
            base_url,
            policy: VerifyPolicy::default(),
            keys: RwLock::new(Arc::new(keys)),
            lists: RwLock::new(Arc::new(StatusLists::new())),
            raw: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicI64::new(generation),
        };
        licences.reload_lists().await?;
        Ok(licences)
    }

    /// Catches up with changes other replicas (or this one) made to keys and status lists:
    /// one primary-key read when nothing changed. Verification calls it first, so a licence
    /// revoked through any replica is refused by every replica from then on.
    pub async fn refresh(&self) -> Result<(), ApiError> {
        use std::sync::atomic::Ordering;
        let current = self.store.licences_generation().await?;
        if current == self.generation.load(Ordering::Acquire) {
            return Ok(());
        }
        let records = self.store.licence_keys().await?;
        let keys = build_keys(&records, now_secs())?;
        *self
            .keys
            .write()
            .map_err(|_| ApiError::Internal("licence keys lock poisoned".into()))? = Arc::new(keys);
        self.reload_lists().await?;
        self.generation.store(current, Ordering::Release);
        Ok(())
    }

    fn keys(&self) -> Result<Arc<Keys>, ApiError> {
        self.keys
            .read()
            .map(|k| Arc::clone(&k))
            .map_err(|_| ApiError::Internal("licence keys lock poisoned".into()))
    }

    /// Where a status list is published.
    pub fn status_uri(&self, department: &str, list_no: i64) -> String {
        format!(
            "{}/v1/licences/status-lists/{department}/{list_no}",
            self.base_url
        )
    }

    async fn reload_lists(&self) -> Result<(), ApiError> {
        let mut lists = StatusLists::new();
        let mut raw = HashMap::new();
        for r in self.store.status_lists().await? {
            let bytes = BASE64
                .decode(&r.bits)
                .map_err(|_| ApiError::Internal("a stored status list is not base64".into()))?;
            let list = StatusList::from_bytes(bytes);
            lists.insert(VerifiedStatusList {
                uri: self.status_uri(&r.department, r.list_no),
                department: r.department.clone(),
                issued_at: r.updated_at,
                expires_at: None,
                list: list.clone(),
            });
            raw.insert((r.department, r.list_no), (list, r.updated_at));
        }
        *self
            .lists
            .write()
            .map_err(|_| ApiError::Internal("status lists lock poisoned".into()))? =
            Arc::new(lists);
        *self
            .raw
            .write()
            .map_err(|_| ApiError::Internal("status lists lock poisoned".into()))? = raw;
        Ok(())
    }

    /// Issues a licence of `licence_type` to `holder` for `department`, which must be the
    /// type's issuing authority; the holder must exist in the base libraries.
    pub async fn issue(
        &self,
        engine: &QueryEngine,
        department: &str,
        licence_type: LicenceType,
        holder: Holder,
        face: BTreeMap<String, String>,
    ) -> Result<(IssuedLicence, StatusRef), ApiError> {
        if licence_type.issuing_department() != department {
            return Err(api_error(LicenceError::IssuerNotAuthorisedForType {
                issuer: department.to_owned(),
                licence_type: licence_type.slug().to_owned(),
            }));
        }
        // Refuse a bad face before an entry is reserved.
        licence_type
            .validate(&face, &holder)
            .map_err(|e| api_error(e.into()))?;
        if !holder_exists(engine, &holder).await? {
            return Err(ApiError::Invalid {
                code: "licence.holder_not_found",
                message: format!(
                    "the holder {} is not in the base libraries",
                    holder.kind().code()
                ),
            });
        }
        let dept = self.store.department(department).await?;
        let uscc = Uscc::parse(&dept.uscc)
            .map_err(|e| ApiError::Internal(format!("department USCC: {e}")))?;
        let keys = self.keys()?;
        let key = keys.signing.get(department).ok_or_else(|| {
            ApiError::Internal(format!("no signing key in service for {department}"))
        })?;
        let now = now_secs();
        let empty = BASE64.encode(StatusList::new(STATUS_LIST_CAPACITY).as_bytes());
        let (list_no, idx) = self
            .store
            .reserve_status_entry(department, STATUS_LIST_CAPACITY as i64, &empty, now)
            .await?;
        let status = StatusRef {
            list: u32::try_from(list_no)
                .map_err(|_| ApiError::Internal("status list number overflow".into()))?,
            idx: u32::try_from(idx)
                .map_err(|_| ApiError::Internal("status index overflow".into()))?,
            uri: self.status_uri(department, list_no),
        };
        let request = IssueRequest {
            licence_type,
            holder: holder.clone(),
            face,
            status: status.clone(),
            version: 1,
            holder_key: None,
        };
        let issuer = Issuer {
            department,
            uscc: &uscc,
            key,
        };
        let issued = tongban_certs::issue(&request, &issuer, now).map_err(api_error)?;
        self.store
            .insert_licence(&LicenceRecord {
                id: issued.id.as_str().to_owned(),
                licence_type: licence_type.slug().to_owned(),
                issuer: department.to_owned(),
                holder_kind: holder.kind().code().to_owned(),
                holder_id: holder.id().to_owned(),
                list_no,
                status_idx: idx,
                kid: issued.kid.clone(),
                token: issued.token.clone(),
                issued_at: now,
                expires_at: issued.expires_at,
                status: LicenceStatus::Valid.name().to_owned(),
                status_reason: None,
                status_changed_at: None,
            })
            .await?;
        // A new list appears in memory on its first licence.
        if !self
            .raw
            .read()
            .map_err(|_| ApiError::Internal("status lists lock poisoned".into()))?
            .contains_key(&(department.to_owned(), list_no))
        {
            self.reload_lists().await?;
        }
        Ok((issued, status))
    }

    /// Verifies a presentation against the hub's own trust store and current status lists.
    pub fn verify(&self, presentation: &str) -> Result<VerifiedLicence, LicenceError> {
        let keys = self
            .keys()
            .map_err(|e| LicenceError::Internal(e.to_string()))?;
        let lists = self
            .lists
            .read()
            .map(|l| Arc::clone(&l))
            .map_err(|_| LicenceError::Internal("status lists lock poisoned".into()))?;
        tongban_certs::verify(presentation, &keys.trust, &lists, &self.policy, now_secs())
    }

    /// Suspends, reinstates or revokes a licence for its issuing department.
    pub async fn set_status(
        &self,
        department: &str,
        id: &str,
        action: StatusAction,
        reason: &str,
    ) -> Result<(LicenceRecord, LicenceStatus), ApiError> {
        let licence = self.store.licence(id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("licence"),
            other => other.into(),
        })?;
        if licence.issuer != department {
            return Err(ApiError::Invalid {
                code: "licence.not_issuer",
                message: "only the issuing department changes a licence's status".into(),
            });
        }
        if reason.trim().is_empty() || reason.len() > 1000 {
            return Err(ApiError::BadRequest(
                "a status change states its reason (at most 1000 bytes)".into(),
            ));
        }
        let idx = licence.status_idx as usize;
        let now = now_secs();
        let mut outcome = LicenceStatus::Valid;
        self.store
            .set_licence_status(&licence, status_name(action), reason, now, |bits| {
                let bytes = BASE64
                    .decode(bits)
                    .map_err(|_| "a stored status list is not base64".to_owned())?;
                let mut list = StatusList::from_bytes(bytes);
                let changed = match action {
                    StatusAction::Suspend => list.suspend(idx),
                    StatusAction::Reinstate => list.reinstate(idx),
                    StatusAction::Revoke => list.revoke(idx),
                };
                changed.map_err(|e| format!("{}: {e}", e.code()))?;
                outcome = list.get(idx).map_err(|e| e.to_string())?;
                Ok(BASE64.encode(list.as_bytes()))
            })
            .await
            .map_err(|e| match e {
                // The list refused the change (a revoked licence stays revoked).
                StoreError::Corrupt(m) if m.starts_with("licence.") => ApiError::Invalid {
                    code: "licence.status_change_refused",
                    message: m,
                },
                other => other.into(),
            })?;
        self.reload_lists().await?;
        Ok((licence, outcome))
    }

    /// A licence from the registry.
    pub async fn record(&self, id: &str) -> Result<LicenceRecord, ApiError> {
        self.store.licence(id).await.map_err(|e| match e {
            StoreError::NotFound => ApiError::NotFound("licence"),
            other => other.into(),
        })
    }

    /// The signed trust list and the anchor's public JWK, for offline verifiers.
    pub fn trust_list(&self) -> Result<(String, serde_json::Value), ApiError> {
        let keys = self.keys()?;
        let now = now_secs();
        let token = keys
            .trust_list
            .sign(
                &keys.anchor,
                ANCHOR_DEPARTMENT,
                now,
                Some(now + PUBLISHED_LIFETIME),
            )
            .map_err(api_error)?;
        Ok((
            token,
            serde_json::Value::Object(keys.anchor.verifying_key().to_jwk()),
        ))
    }

    /// A department's status list, signed now.
    pub fn status_list(&self, department: &str, list_no: i64) -> Result<String, ApiError> {
        let raw = self
            .raw
            .read()
            .map_err(|_| ApiError::Internal("status lists lock poisoned".into()))?;
        let (list, _) = raw
            .get(&(department.to_owned(), list_no))
            .ok_or(ApiError::NotFound("status list"))?;
        let keys = self.keys()?;
        let key = keys
            .signing
            .get(department)
            .ok_or(ApiError::NotFound("status list"))?;
        let now = now_secs();
        list.sign(
            key,
            department,
            &self.status_uri(department, list_no),
            now,
            Some(now + PUBLISHED_LIFETIME),
            Some(300),
        )
        .map_err(api_error)
    }
}

/// A status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    /// Temporarily invalid.
    Suspend,
    /// Valid again after a suspension.
    Reinstate,
    /// Invalid for ever.
    Revoke,
}

fn status_name(action: StatusAction) -> &'static str {
    match action {
        StatusAction::Suspend => LicenceStatus::Suspended.name(),
        StatusAction::Reinstate => LicenceStatus::Valid.name(),
        StatusAction::Revoke => LicenceStatus::Revoked.name(),
    }
}

fn build_keys(records: &[KeyRecord], now: i64) -> Result<Keys, ApiError> {
    let mut entries = Vec::new();
    let mut signing = HashMap::new();
    let mut anchor = None;
    for r in records {
        let key = SigningKey::from_private_jwk_json(&r.private_jwk).map_err(|e| {
            ApiError::Internal(format!("stored licence key {} unusable: {e}", r.kid))
        })?;
        if r.anchor {
            if r.issue_until.is_none() {
                anchor = Some(key);
            }
            continue;
        }
        let licence_types = r
            .licence_types
            .split(',')
            .filter(|s| !s.is_empty())
            .map(LicenceType::from_slug)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ApiError::Internal(format!("stored licence key {}: {e}", r.kid)))?;
        entries.push(TrustEntry {
            department: r.department.clone(),
            key: key.verifying_key().clone(),
            licence_types,
            status_lists: true,
            issue_from: r.issue_from,
            issue_until: r.issue_until,
        });
        if r.issue_until.is_none() {
            signing.insert(r.department.clone(), key);
        }
    }
    let anchor = anchor.ok_or_else(|| ApiError::Internal("no trust-list anchor key".into()))?;
    let trust = TrustStore::from_entries(entries.clone(), now, None).map_err(api_error)?;
    Ok(Keys {
        trust,
        trust_list: TrustList { entries },
        anchor,
        signing,
    })
}

/// Whether the holder's record exists: a citizen in `population`, an entity in
/// `legal_entity`. The hub looks itself, with every column granted, outside any
/// department's grants.
async fn holder_exists(engine: &QueryEngine, holder: &Holder) -> Result<bool, ApiError> {
    let (library, column) = match holder.kind() {
        HolderKind::CitizenId => (BaseLibrary::Population, "citizen_id"),
        HolderKind::Uscc => (BaseLibrary::LegalEntity, "uscc"),
    };
    if !engine.versions().contains_key(&library) {
        // Nothing published yet: nobody can be found.
        return Ok(false);
    }
    let grant = Grant {
        id: 0,
        consumer: "hub".into(),
        resource: library.table_name().into(),
        library,
        columns: vec![column.to_owned()],
        row_filter: None,
        masks: BTreeMap::new(),
        matters: Vec::new(),
        legal_basis: "e-licence issuance".into(),
        valid_from: 0,
        valid_to: None,
        row_cap: None,
        source: GrantSource::Unconditional,
    };
    let access = Access {
        grants: vec![grant],
        explain_allowed: false,
    };
    // The identifier was parsed (digits and letters only), so it is safe inside the literal.
    let sql = format!(
        "SELECT {column} FROM {} WHERE {column} = '{}' LIMIT 1",
        library.table_name(),
        holder.id()
    );
    let planned = engine
        .plan(&sql, &access)
        .await
        .map_err(|e| ApiError::Internal(format!("holder lookup: {e} ({})", e.detail())))?;
    let mut stream = planned
        .execute()
        .await
        .map_err(|e| ApiError::Internal(format!("holder lookup: {e}")))?;
    use futures::StreamExt;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| ApiError::Internal(format!("holder lookup: {e}")))?;
        if batch.num_rows() > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}
