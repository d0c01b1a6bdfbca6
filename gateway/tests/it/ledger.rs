//! The audit log on both back ends: one sequence across writers (two sequencers and the
//! command line on one store, as replicas would be), append-only tables, retention.

use std::future::Future;

use tongban_gateway::audit::{self, AuditEvent, Recorder};
use tongban_gateway::auth::{Credential, Principal};
use tongban_gateway::ledger::heads::SigningKey;
use tongban_gateway::ledger::verify::{self, DumpEntry};
use tongban_gateway::ledger::{self, Ledger, LedgerOptions};
use tongban_gateway::store::{LogFilter, Store};

use crate::store::{postgres, sqlite};

async fn on_both<F, Fut>(case: F)
where
    F: Fn(Store, std::path::PathBuf) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, dir) = sqlite().await;
    case(store, dir.path().to_path_buf()).await;
    let keys = tempfile::tempdir().expect("tempdir");
    case(postgres().await, keys.path().to_path_buf()).await;
}

fn principal() -> Principal {
    Principal {
        department: "approval-bureau".into(),
        department_name: "审批局".into(),
        roles: "consumer".parse().expect("roles"),
        credential: Credential::Local {
            operator: "test".into(),
        },
        subject: None,
    }
}

fn entry(i: usize) -> audit::AuditEntry {
    audit::entry(
        &principal(),
        &format!("req-{i}-{}", uuid::Uuid::new_v4()),
        None,
        std::time::Instant::now(),
        AuditEvent::UserCreated {
            username: format!("u{i}"),
            department: "approval-bureau".into(),
            roles: "consumer".into(),
        },
    )
}

async fn start(store: &Store, dir: &std::path::Path) -> Ledger {
    Ledger::start(
        store.clone(),
        SigningKey::load_or_create(&dir.join("sign.pk8")).expect("key"),
        ledger::load_subject_key(&dir.join("subject.key")).expect("subject key"),
        LedgerOptions::default(),
    )
    .await
    .expect("ledger")
}

async fn dump(store: &Store) -> Vec<DumpEntry> {
    store
        .log_entries(&LogFilter::default(), 100_000)
        .await
        .expect("entries")
        .into_iter()
        .map(|r| DumpEntry {
            index: r.idx as u64,
            leaf_hash: r.leaf_hash,
            body: r.entry,
        })
        .collect()
}

#[tokio::test]
async fn two_sequencers_and_the_command_line_keep_one_log() {
    on_both(|store, dir| async move {
        let a = start(&store, &dir).await;
        let b = start(&store, &dir).await;
        let mut tasks = Vec::new();
        for w in 0..8 {
            let ledger = if w % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..25 {
                    got.push(
                        ledger
                            .append(entry(w * 100 + i), Vec::new())
                            .await
                            .expect("appended")
                            .index,
                    );
                }
                got
            }));
        }
        let direct = Recorder::Direct(store.clone());
        let mut indices = Vec::new();
        for i in 0..5 {
            indices.push(
                audit::record(&direct, entry(10_000 + i), Vec::new())
                    .await
                    .expect("direct")
                    .index,
            );
        }
        for t in tasks {
            indices.extend(t.await.expect("task"));
        }
        indices.sort_unstable();
        assert_eq!(
            indices,
            (0..205).collect::<Vec<u64>>(),
            "one gapless sequence"
        );
        // Both sequencers see the whole tree and sign consistent heads.
        let head_a = a.sign_head_now().await.expect("head");
        assert_eq!(head_a.tree_size, 205);
        assert_eq!(
            b.root(205).await.expect("root"),
            head_a.root().expect("root")
        );
        let key = SigningKey::load_or_create(&dir.join("sign.pk8")).expect("key");
        let report = verify::verify(&dump(&store).await, &[head_a], key.public_key(), &[])
            .expect("the log verifies");
        assert_eq!(report.entries, 205);
    })
    .await;
}

#[tokio::test]
async fn entries_heads_and_the_horizon_cannot_be_changed_but_bodies_can_expire() {
    on_both(|store, dir| async move {
        let ledger = start(&store, &dir).await;
        for i in 0..10 {
            ledger
                .append(entry(i), vec![format!("{i:064x}")])
                .await
                .expect("appended");
        }
        let head = ledger.sign_head_now().await.expect("head");
        // Nothing past the retention horizon may change.
        let refused = store
            .log_entries(&LogFilter::default(), 1)
            .await
            .expect("rows");
        assert_eq!(refused.len(), 1);
        assert!(
            store
                .raw_execute("UPDATE audit_log SET entry = NULL WHERE idx = 1")
                .await
                .is_err()
        );
        assert!(
            store
                .raw_execute("DELETE FROM audit_log WHERE idx = 9")
                .await
                .is_err()
        );
        assert!(
            store
                .raw_execute("DELETE FROM audit_tree_heads")
                .await
                .is_err()
        );
        assert!(
            store
                .raw_execute("UPDATE audit_subjects SET subject = 'x'")
                .await
                .is_err()
        );
        assert!(
            store
                .raw_execute("UPDATE audit_retention SET purged_before = -1")
                .await
                .is_err()
        );
        // Retention removes bodies of signed entries only, and the log still verifies.
        let purged = store.purge_log(i64::MAX).await.expect("purge");
        assert_eq!(purged, 10);
        assert!(
            store
                .raw_execute("UPDATE audit_log SET leaf_hash = 'x' WHERE idx = 1")
                .await
                .is_err()
        );
        let key = SigningKey::load_or_create(&dir.join("sign.pk8")).expect("key");
        let report = verify::verify(&dump(&store).await, &[head], key.public_key(), &[])
            .expect("verifies after purging");
        assert_eq!(report.purged, 10);
        // Entries appended after the last head keep their bodies.
        ledger
            .append(entry(99), Vec::new())
            .await
            .expect("appended");
        assert_eq!(store.purge_log(i64::MAX).await.expect("purge"), 0);
    })
    .await;
}
