//! The metadata store, run against SQLite and a real PostgreSQL.
//!
//! Every case runs on both back ends. PostgreSQL comes from `TONGBAN_TEST_POSTGRES_URL`
//! (`tests/run.sh` starts a throwaway cluster and sets it); each test gets its own database.

use std::future::Future;

use sqlx::Connection;
use tongban_gateway::auth::{Role, Roles};
use tongban_gateway::store::{
    CertificateRecord, Department, NewUser, SnapshotRecord, Store, StoreError,
};

pub(crate) async fn sqlite() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    (Store::connect(&url, 4).await.expect("sqlite store"), dir)
}

pub(crate) async fn postgres() -> Store {
    Store::connect(&postgres_database().await, 4)
        .await
        .expect("postgres store")
}

/// The URL of a new, empty database on the test server.
pub(crate) async fn postgres_database() -> String {
    let admin = std::env::var("TONGBAN_TEST_POSTGRES_URL").expect(
        "TONGBAN_TEST_POSTGRES_URL must name a PostgreSQL server (tests/run.sh starts one)",
    );
    database_on(&admin).await
}

/// The URL of a new, empty database on the server `admin` connects to.
pub(crate) async fn database_on(admin: &str) -> String {
    let name = format!("tongban_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::postgres::PgConnection::connect(admin)
        .await
        .expect("PostgreSQL reachable");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    conn.close().await.expect("close");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    format!("{base}/{name}")
}

async fn on_both<F, Fut>(case: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, _dir) = sqlite().await;
    case(store).await;
    case(postgres().await).await;
}

fn roles(list: &[Role]) -> Roles {
    list.iter().copied().collect()
}

async fn seed_department(store: &Store, code: &str) {
    let d = Department {
        code: code.into(),
        name: "测试局".into(),
        uscc: format!("USCC-{code}"),
        roles: roles(&[Role::Consumer, Role::Clerk]),
    };
    store.upsert_department(&d, 1).await.expect("department");
}

#[tokio::test]
async fn departments_upsert_and_list() {
    on_both(|store| async move {
        seed_department(&store, "b-dept").await;
        seed_department(&store, "a-dept").await;
        let mut d = store.department("a-dept").await.expect("found");
        assert_eq!(d.roles, roles(&[Role::Consumer, Role::Clerk]));
        d.roles = roles(&[Role::Auditor]);
        store.upsert_department(&d, 2).await.expect("update");
        assert_eq!(
            store.department("a-dept").await.expect("found").roles,
            roles(&[Role::Auditor])
        );
        let all: Vec<String> = store
            .list_departments()
            .await
            .expect("list")
            .into_iter()
            .map(|d| d.code)
            .collect();
        assert_eq!(all, vec!["a-dept", "b-dept"]);
        assert!(matches!(
            store.department("nope").await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn users_are_unique_and_sessions_expire_or_end() {
    on_both(|store| async move {
        seed_department(&store, "dept").await;
        let user = NewUser {
            username: "li".into(),
            display_name: "李".into(),
            department: "dept".into(),
            roles: roles(&[Role::Clerk]),
            password_hash: "$argon2id$x".into(),
            subject_id: None,
        };
        let id = store.create_user(&user, 10).await.expect("created");
        assert!(matches!(
            store.create_user(&user, 11).await,
            Err(StoreError::Conflict(_))
        ));
        let found = store.user_by_name("li").await.expect("found");
        assert_eq!(
            (found.id, found.department_name.as_str(), found.roles),
            (id, "测试局", roles(&[Role::Clerk]))
        );

        store
            .create_session("hash-1", id, 100, 200)
            .await
            .expect("session");
        assert_eq!(
            store
                .session_user("hash-1", 150)
                .await
                .expect("live")
                .username,
            "li"
        );
        assert!(
            matches!(
                store.session_user("hash-1", 200).await,
                Err(StoreError::NotFound)
            ),
            "expired"
        );
        store
            .create_session("hash-2", id, 100, 10_000)
            .await
            .expect("session");
        store.revoke_session("hash-2").await.expect("revoke");
        assert!(
            matches!(
                store.session_user("hash-2", 150).await,
                Err(StoreError::NotFound)
            ),
            "revoked"
        );
        assert!(matches!(
            store.session_user("unknown", 150).await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn certificates_map_to_departments_and_can_be_revoked() {
    on_both(|store| async move {
        seed_department(&store, "dept").await;
        let cert = CertificateRecord {
            fingerprint: "ab".repeat(32),
            department: "dept".into(),
            subject: "dept".into(),
            not_after: 4_000_000_000,
            revoked: false,
        };
        store
            .register_certificate(&cert, 1)
            .await
            .expect("registered");
        assert!(matches!(
            store.register_certificate(&cert, 1).await,
            Err(StoreError::Conflict(_))
        ));
        let (found, dept) = store.certificate(&cert.fingerprint).await.expect("found");
        assert_eq!((found.revoked, dept.code.as_str()), (false, "dept"));
        assert!(
            store
                .department_has_certificate("dept", 1)
                .await
                .expect("count")
        );
        store
            .revoke_certificate(&cert.fingerprint)
            .await
            .expect("revoked");
        assert!(
            store
                .certificate(&cert.fingerprint)
                .await
                .expect("found")
                .0
                .revoked
        );
        assert!(
            !store
                .department_has_certificate("dept", 1)
                .await
                .expect("count")
        );
        assert!(matches!(
            store.revoke_certificate("00").await,
            Err(StoreError::NotFound)
        ));
    })
    .await;
}

#[tokio::test]
async fn snapshots_get_consecutive_versions_and_a_failed_placement_records_nothing() {
    on_both(|store| async move {
        seed_department(&store, "public-security").await;
        let provider = tongban_catalog::Provider {
            department: "public-security".into(),
            name: "公安局".into(),
            code: tongban_schemas::Uscc::parse("91110000600037341L").expect("valid"),
        };
        let def = tongban_catalog::resource::base_library_resource(
            tongban_schemas::BaseLibrary::Population,
            provider,
        )
        .expect("definition");
        store.upsert_resource(&def, 5).await.expect("resource");
        let code = def.code.to_string();
        let fresh = store.resource(&code).await.expect("found");
        assert!(fresh.latest.is_none());
        assert_eq!(fresh.definition, def, "the definition round-trips");

        let record = SnapshotRecord {
            resource_code: code.clone(),
            version: 0,
            path: String::new(),
            files: vec!["part-00000.parquet".into()],
            rows: 3,
            bytes: 100,
            sha256: "00".repeat(32),
            published_at: 1_000,
            published_by: "test".into(),
        };
        let first = store
            .publish_snapshot(record.clone(), |v| Ok(format!("v{v}")))
            .await
            .expect("first");
        assert_eq!((first.version, first.path.as_str()), (1, "v1"));
        let failed = store
            .publish_snapshot(record.clone(), |_| Err("disk full".into()))
            .await;
        assert!(failed.is_err());
        let second = store
            .publish_snapshot(record.clone(), |v| Ok(format!("v{v}")))
            .await
            .expect("second");
        assert_eq!(second.version, 2, "the failed attempt took no version");

        let listed = store.resource(&code).await.expect("found");
        assert_eq!(listed.latest.map(|s| s.version), Some(2));
        assert_eq!(listed.first_published_at, Some(1_000));
        let versions: Vec<i64> = store
            .snapshots(&code)
            .await
            .expect("list")
            .into_iter()
            .map(|s| s.version)
            .collect();
        assert_eq!(versions, vec![2, 1]);
        assert_eq!(store.list_resources().await.expect("list").len(), 1);
    })
    .await;
}
