//! The tamper-evident audit log.
//!
//! Every audit entry becomes a leaf of an RFC 6962 Merkle tree (see [`merkle`]). One
//! sequencer task appends: it takes every entry waiting, assigns consecutive leaf indices
//! under the store's log lock, writes them in one transaction (group commit) and only then
//! answers the requests, so a response never precedes its entry. A second task signs tree
//! heads every N entries or T seconds ([`heads`]). An auditor recomputes everything from
//! the stored entries with [`verify`].
//!
//! The tree lives in memory (every complete subtree hash, 64 bytes per entry) and is rebuilt
//! from the stored leaf hashes at start-up. Another process appending to the same store (the
//! command line, another replica) is picked up inside the next append transaction.

pub mod heads;
pub mod merkle;
pub mod verify;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ring::hmac;
use tokio::sync::{mpsc, oneshot, watch};

use crate::audit::AuditEntry;
use crate::error::ApiError;
use crate::store::{LogRow, Store, TreeHeadRow};
use heads::{SigningKey, TreeHead};
use merkle::{Hash, Tree};

/// How the log behaves; the `[audit]` section of the configuration.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Sign a tree head after this many new entries.
    pub head_every_entries: u64,
    /// Or after this long, if the tree grew.
    pub head_interval: Duration,
    /// Most entries in one group commit.
    pub max_batch: usize,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            head_every_entries: 1000,
            head_interval: Duration::from_secs(10),
            max_batch: 4096,
        }
    }
}

/// Where an entry landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Its leaf index.
    pub index: u64,
}

/// An entry waiting for the sequencer.
struct Pending {
    entry: AuditEntry,
    subjects: Vec<String>,
    attachment: Option<Attachment>,
    reply: oneshot::Sender<Result<Appended, String>>,
}

/// A record stored in the same transaction as its audit entry: both or neither.
#[derive(Debug, Clone)]
pub enum Attachment {
    /// A materials resolution and its per-material outcomes.
    Resolution(
        crate::store::ResolutionRecord,
        Vec<crate::store::MaterialOutcome>,
    ),
}

struct Shared {
    store: Store,
    tree: RwLock<Tree>,
    key: SigningKey,
    subject_key: hmac::Key,
    options: LedgerOptions,
    grown: watch::Sender<u64>,
    /// Serialises head signing (the signer task and explicit requests).
    signing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("key_id", &self.key.key_id())
            .finish_non_exhaustive()
    }
}

/// Handle to the log; cheap to clone. When the last handle is dropped the sequencer drains
/// what is queued and stops.
#[derive(Debug, Clone)]
pub struct Ledger {
    queue: mpsc::Sender<Pending>,
    shared: Arc<Shared>,
}

/// Loads the 32-byte subject key at `path`, creating it if absent.
pub fn load_subject_key(path: &Path) -> Result<hmac::Key, ApiError> {
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| ApiError::Internal(format!("no randomness for the subject key: {e}")))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ApiError::Internal(format!("{}: {e}", parent.display())))?;
        }
        write_secret(path, &key)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    }
    let bytes =
        std::fs::read(path).map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))?;
    if bytes.len() != 32 {
        return Err(ApiError::Internal(format!(
            "{} must hold 32 bytes, not {}",
            path.display(),
            bytes.len()
        )));
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Writes a new secret file readable by its owner only; an existing file is never replaced.
#[cfg(unix)]
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// The keyed hash that stands for a data subject in the log: HMAC-SHA-256 over
/// `<id type code>:<id>` (111 citizen ID, 001 USCC), hex.
pub fn subject_hash(key: &hmac::Key, id_type: &str, id: &str) -> String {
    let tag = hmac::sign(key, format!("{id_type}:{id}").as_bytes());
    hex::encode(tag.as_ref())
}

impl Ledger {
    /// Loads the tree from `store`, signs a head if entries were appended since the last
    /// one, and starts the sequencer and the head signer.
    pub async fn start(
        store: Store,
        key: SigningKey,
        subject_key: hmac::Key,
        options: LedgerOptions,
    ) -> Result<Ledger, ApiError> {
        let mut tree = Tree::new();
        for (idx, leaf) in store.log_leaves(0).await? {
            push_stored(&mut tree, idx, &leaf)?;
        }
        let size = tree.size();
        let (grown, grown_rx) = watch::channel(size);
        let shared = Arc::new(Shared {
            store,
            tree: RwLock::new(tree),
            key,
            subject_key,
            options,
            grown,
            signing: tokio::sync::Mutex::new(()),
        });
        let (queue, rx) = mpsc::channel(shared.options.max_batch.max(1) * 4);
        let ledger = Ledger { queue, shared };
        ledger.sign_head_if_behind().await?;
        tokio::spawn(sequence(Arc::clone(&ledger.shared), rx));
        tokio::spawn(sign_heads(Arc::downgrade(&ledger.shared), grown_rx));
        Ok(ledger)
    }

    /// Appends `entry` with the keyed hashes of its data subjects; returns when the entry
    /// is committed.
    pub async fn append(
        &self,
        entry: AuditEntry,
        subjects: Vec<String>,
    ) -> Result<Appended, ApiError> {
        self.append_with(entry, subjects, None).await
    }

    /// Like [`Ledger::append`], storing `attachment` in the same transaction.
    pub async fn append_with(
        &self,
        entry: AuditEntry,
        subjects: Vec<String>,
        attachment: Option<Attachment>,
    ) -> Result<Appended, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                entry,
                subjects,
                attachment,
                reply,
            })
            .await
            .map_err(|_| ApiError::Internal("the audit sequencer has stopped".into()))?;
        match answer.await {
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err(e)) => Err(ApiError::AuditUnavailable(e)),
            Err(_) => Err(ApiError::Internal(
                "the audit sequencer dropped an entry".into(),
            )),
        }
    }

    /// A handle that does not keep the sequencer alive.
    pub fn downgrade(&self) -> WeakLedger {
        WeakLedger {
            queue: self.queue.downgrade(),
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// The store the log lives in.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The keyed hash of a data subject.
    pub fn subject_hash(&self, id_type: &str, id: &str) -> String {
        subject_hash(&self.shared.subject_key, id_type, id)
    }

    /// The raw Ed25519 public key tree heads are signed with, and its id.
    pub fn public_key(&self) -> (&[u8], &str) {
        (self.shared.key.public_key(), self.shared.key.key_id())
    }

    /// Leaves in the tree, after catching up with other writers.
    pub async fn size(&self) -> Result<u64, ApiError> {
        self.catch_up().await?;
        Ok(self.tree()?.size())
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    pub async fn inclusion_proof(
        &self,
        index: u64,
        size: u64,
    ) -> Result<(Hash, Vec<Hash>), ApiError> {
        self.catch_up().await?;
        let tree = self.tree()?;
        let proof = tree
            .inclusion_proof(index, size)
            .map_err(|e| ApiError::Invalid {
                code: "audit.proof_out_of_range",
                message: e.to_string(),
            })?;
        let leaf = tree
            .leaf(index)
            .ok_or_else(|| ApiError::Internal("leaf vanished".into()))?;
        Ok((leaf, proof))
    }

    /// The consistency proof between the trees of `first` and `second` leaves.
    pub async fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ApiError> {
        self.catch_up().await?;
        self.tree()?
            .consistency_proof(first, second)
            .map_err(|e| ApiError::Invalid {
                code: "audit.proof_out_of_range",
                message: e.to_string(),
            })
    }

    /// The root of the tree of `size` leaves.
    pub async fn root(&self, size: u64) -> Result<Hash, ApiError> {
        self.catch_up().await?;
        self.tree()?.root(size).ok_or_else(|| ApiError::Invalid {
            code: "audit.proof_out_of_range",
            message: format!("the log has fewer than {size} entries"),
        })
    }

    /// Signs a head for the current tree now (unless the latest head already covers it)
    /// and returns the latest head.
    pub async fn sign_head_now(&self) -> Result<TreeHead, ApiError> {
        self.catch_up().await?;
        sign_current(&self.shared).await?;
        latest_head(&self.shared.store)
            .await?
            .ok_or_else(|| ApiError::Internal("no tree head after signing".into()))
    }

    async fn sign_head_if_behind(&self) -> Result<(), ApiError> {
        sign_current(&self.shared).await.map(|_| ())
    }

    fn tree(&self) -> Result<std::sync::RwLockReadGuard<'_, Tree>, ApiError> {
        self.shared
            .tree
            .read()
            .map_err(|_| ApiError::Internal("audit tree lock poisoned".into()))
    }

    /// Adds leaves other writers appended since this process last looked.
    async fn catch_up(&self) -> Result<(), ApiError> {
        let size = self.tree()?.size();
        let newer = self.shared.store.log_leaves(size as i64).await?;
        if newer.is_empty() {
            return Ok(());
        }
        let mut tree = self
            .shared
            .tree
            .write()
            .map_err(|_| ApiError::Internal("audit tree lock poisoned".into()))?;
        for (idx, leaf) in newer {
            // The sequencer may have added some of these meanwhile.
            if (idx as u64) < tree.size() {
                continue;
            }
            push_stored(&mut tree, idx, &leaf)?;
        }
        Ok(())
    }
}

/// A [`Ledger`] handle for background tasks that must not outlive the server.
#[derive(Debug, Clone)]
pub struct WeakLedger {
    queue: mpsc::WeakSender<Pending>,
    shared: std::sync::Weak<Shared>,
}

impl WeakLedger {
    /// The ledger, while the server holds it.
    pub fn upgrade(&self) -> Option<Ledger> {
        Some(Ledger {
            queue: self.queue.upgrade()?,
            shared: self.shared.upgrade()?,
        })
    }
}

/// Appends one entry straight to the store, for processes without a sequencer (the command
/// line). It takes the same lock and assigns the next index, so a running server's tree
/// picks it up.
pub async fn append_direct(
    store: &Store,
    entry: AuditEntry,
    attachment: Option<Attachment>,
) -> Result<Appended, ApiError> {
    let mut append = store.begin_log_append().await?;
    let (rows, _) = rows_for(append.next_index, vec![(entry, Vec::new())])?;
    append.insert(&rows, &[]).await?;
    insert_attachments(&mut append, attachment.as_slice()).await?;
    append.commit().await?;
    Ok(Appended {
        index: append_index(&rows)?,
    })
}

async fn insert_attachments(
    append: &mut crate::store::LogAppend,
    attachments: &[Attachment],
) -> Result<(), ApiError> {
    for attachment in attachments {
        match attachment {
            Attachment::Resolution(record, materials) => {
                append.insert_resolution(record, materials).await?;
            }
        }
    }
    Ok(())
}

fn append_index(rows: &[LogRow]) -> Result<u64, ApiError> {
    rows.first()
        .map(|r| r.idx as u64)
        .ok_or_else(|| ApiError::Internal("nothing appended".into()))
}

fn push_stored(tree: &mut Tree, idx: i64, leaf: &str) -> Result<(), ApiError> {
    if idx as u64 != tree.size() {
        return Err(ApiError::Internal(format!(
            "the audit log has a gap: expected entry {}, found {idx}",
            tree.size()
        )));
    }
    let hash = heads::parse_hash(leaf)
        .ok_or_else(|| ApiError::Internal(format!("entry {idx} has a malformed leaf hash")))?;
    tree.push(hash);
    Ok(())
}

/// `(keyed subject hash, leaf index)` pairs.
type SubjectLinks = Vec<(String, i64)>;

/// Stored rows and subject links for entries taking indices from `first`.
fn rows_for(
    first: i64,
    entries: Vec<(AuditEntry, Vec<String>)>,
) -> Result<(Vec<LogRow>, SubjectLinks), ApiError> {
    let mut rows = Vec::with_capacity(entries.len());
    let mut links = Vec::new();
    for (i, (mut entry, subjects)) in entries.into_iter().enumerate() {
        let idx = first + i as i64;
        entry.index = idx as u64;
        let text = crate::audit::canonical(&entry)?;
        let leaf = merkle::leaf_hash(text.as_bytes());
        links.extend(subjects.into_iter().map(|s| (s, idx)));
        rows.push(LogRow {
            idx,
            leaf_hash: hex::encode(leaf),
            request_id: entry.request_id.clone(),
            at: entry.at_ms,
            department: entry.department.clone(),
            actor: entry.actor.clone(),
            action: entry.event.action().to_owned(),
            outcome: entry.event.outcome().to_owned(),
            matter: entry.purpose.as_ref().map(|p| p.matter.clone()),
            flags: (!entry.flags.is_empty()).then(|| entry.flags.join(",")),
            disclose_after: entry
                .purpose
                .as_ref()
                .and_then(|p| p.confidential_until)
                .map(disclosure_ms),
            entry: Some(text),
        });
    }
    Ok((rows, links))
}

/// Unix milliseconds of the start of `day` in Beijing.
fn disclosure_ms(day: chrono::NaiveDate) -> i64 {
    crate::clock::day_start_ms(day).unwrap_or(i64::MAX)
}

/// The sequencer: group commit of everything waiting.
async fn sequence(shared: Arc<Shared>, mut queue: mpsc::Receiver<Pending>) {
    let max = shared.options.max_batch.max(1);
    // Size of the previous batch: how many appenders were waiting on one commit.
    let mut previous = 1;
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        drain(&mut queue, &mut batch, max);
        // Appenders answered by the previous commit are runnable but may not have queued
        // their next entry yet. Letting them run first (a yield, no timer) turns one commit
        // per straggler into one commit for all of them; a lone appender never waits.
        let mut rounds = 0;
        while batch.len() < previous.min(max) && rounds < GATHER_ROUNDS {
            tokio::task::yield_now().await;
            drain(&mut queue, &mut batch, max);
            rounds += 1;
        }
        previous = batch.len();
        let mut replies = Vec::with_capacity(batch.len());
        let mut entries = Vec::with_capacity(batch.len());
        let mut attachments = Vec::new();
        for p in batch {
            replies.push(p.reply);
            entries.push((p.entry, p.subjects));
            attachments.extend(p.attachment);
        }
        match write_batch(&shared, entries, &attachments).await {
            Ok(first_index) => {
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Ok(Appended {
                        index: first_index + i as u64,
                    }));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit batch not written");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(message.clone()));
                }
            }
        }
    }
}

async fn write_batch(
    shared: &Shared,
    entries: Vec<(AuditEntry, Vec<String>)>,
    attachments: &[Attachment],
) -> Result<u64, ApiError> {
    let mut append = shared.store.begin_log_append().await?;
    let known = tree_size(shared)?;
    let next = append.next_index as u64;
    if next < known {
        return Err(ApiError::Internal(format!(
            "the stored log ends at {next} but {known} entries were appended"
        )));
    }
    // Entries another writer appended: into the tree before ours.
    let newer = if next > known {
        append.leaves_from(known as i64).await?
    } else {
        Vec::new()
    };
    let (rows, links) = rows_for(append.next_index, entries)?;
    append.insert(&rows, &links).await?;
    insert_attachments(&mut append, attachments).await?;
    append.commit().await?;
    let size = {
        let mut tree = shared
            .tree
            .write()
            .map_err(|_| ApiError::Internal("audit tree lock poisoned".into()))?;
        for (idx, leaf) in &newer {
            if (*idx as u64) >= tree.size() {
                push_stored(&mut tree, *idx, leaf)?;
            }
        }
        for row in &rows {
            push_stored(&mut tree, row.idx, &row.leaf_hash)?;
        }
        tree.size()
    };
    let _ = shared.grown.send(size);
    Ok(next)
}

/// Scheduler rounds the sequencer gives waiting appenders before it commits a batch
/// smaller than the previous one.
const GATHER_ROUNDS: usize = 4;

/// Moves queued entries into `batch`, up to `max` in all.
fn drain(queue: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, max: usize) {
    while batch.len() < max {
        match queue.try_recv() {
            Ok(p) => batch.push(p),
            Err(_) => break,
        }
    }
}

fn tree_size(shared: &Shared) -> Result<u64, ApiError> {
    Ok(shared
        .tree
        .read()
        .map_err(|_| ApiError::Internal("audit tree lock poisoned".into()))?
        .size())
}

/// Signs heads every `head_every_entries` entries or `head_interval`, whichever first.
/// Holds the log weakly: it stops when the server lets go of the log (the next start signs
/// whatever this one did not).
async fn sign_heads(shared: std::sync::Weak<Shared>, mut grown: watch::Receiver<u64>) {
    let mut last_signed_at = Instant::now();
    // The size the latest head covers, kept here so that a wake-up costs no database read.
    let mut signed = match shared.upgrade() {
        Some(s) => latest_size(&s).await,
        None => return,
    };
    loop {
        let Some(interval) = shared.upgrade().map(|s| s.options.head_interval) else {
            return;
        };
        if let Ok(Err(_)) = tokio::time::timeout(interval, grown.changed()).await {
            return;
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let size = *grown.borrow_and_update();
        let due = size.saturating_sub(signed) >= shared.options.head_every_entries
            || (size > signed && last_signed_at.elapsed() >= shared.options.head_interval);
        if due {
            match sign_current(&shared).await {
                Ok(s) => {
                    signed = s;
                    last_signed_at = Instant::now();
                }
                Err(e) => tracing::error!(error = %e, "tree head not signed"),
            }
        }
    }
}

async fn latest_size(shared: &Shared) -> u64 {
    match shared.store.latest_tree_head().await {
        Ok(Some(h)) => h.tree_size as u64,
        _ => 0,
    }
}

/// Signs the current tree unless the latest head covers it; returns the size signed.
async fn sign_current(shared: &Shared) -> Result<u64, ApiError> {
    let _guard = shared.signing.lock().await;
    let (size, root) = {
        let tree = shared
            .tree
            .read()
            .map_err(|_| ApiError::Internal("audit tree lock poisoned".into()))?;
        let size = tree.size();
        let root = tree
            .root(size)
            .ok_or_else(|| ApiError::Internal("no root for the current size".into()))?;
        (size, root)
    };
    if size == 0 || latest_size(shared).await >= size {
        return Ok(size);
    }
    let head = shared
        .key
        .sign(size, &root, chrono::Utc::now().timestamp_millis());
    shared
        .store
        .insert_tree_head(&TreeHeadRow {
            tree_size: head.tree_size as i64,
            root_hash: head.root_hash.clone(),
            timestamp: head.timestamp,
            key_id: head.key_id.clone(),
            signature: head.signature.clone(),
        })
        .await?;
    tracing::debug!(size, "tree head signed");
    Ok(size)
}

/// The latest signed head in `store`.
pub async fn latest_head(store: &Store) -> Result<Option<TreeHead>, ApiError> {
    Ok(store.latest_tree_head().await?.map(head_of_row))
}

/// A stored head as the API shows it.
pub fn head_of_row(r: TreeHeadRow) -> TreeHead {
    TreeHead {
        tree_size: r.tree_size as u64,
        root_hash: r.root_hash,
        timestamp: r.timestamp,
        key_id: r.key_id,
        signature: r.signature,
    }
}
