//! What a new installation starts with: the departments, the catalogue entries of the base
//! libraries, client certificates for department systems, and accounts for people.
//!
//! Every step is idempotent so that `tongban demo` on an existing directory reuses what is
//! there and completes what an interrupted first run left out.

use std::path::Path;

use serde::{Deserialize, Serialize};
use tongban_catalog::{Provider, resource::base_library_resource};
use tongban_schemas::{BaseLibrary, DivisionCode, Uscc};

use crate::auth::{self, Role, Roles};
use crate::error::ApiError;
use crate::pki::{self, PkiPaths};
use crate::store::{CertificateRecord, Department, Store, StoreError};

/// The division of the demo city, 廊坊市.
pub const DEMO_DIVISION: &str = "131000";

/// A department of the demo city.
#[derive(Debug, Clone, Copy)]
pub struct DepartmentSeed {
    /// Code.
    pub code: &'static str,
    /// Chinese name.
    pub name: &'static str,
    /// Roles its systems hold.
    pub roles: &'static [Role],
    /// Whether its systems get a client certificate.
    pub client_certificate: bool,
}

/// The departments of the demo city (DOMAIN.md), plus the data bureau that runs the hub.
pub const DEPARTMENTS: [DepartmentSeed; 10] = [
    DepartmentSeed {
        code: "public-security",
        name: "廊坊市公安局",
        roles: &[Role::Provider, Role::Issuer, Role::Consumer],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "market-regulation",
        name: "廊坊市市场监督管理局",
        roles: &[Role::Provider, Role::Issuer, Role::Consumer],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "credit-office",
        name: "廊坊市社会信用体系建设办公室",
        roles: &[Role::Provider, Role::Consumer],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "health-commission",
        name: "廊坊市卫生健康委员会",
        roles: &[Role::Issuer],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "civil-affairs",
        name: "廊坊市民政局",
        roles: &[Role::Issuer],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "real-estate",
        name: "廊坊市不动产登记中心",
        roles: &[Role::Issuer, Role::Consumer, Role::Clerk],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "approval-bureau",
        name: "廊坊市行政审批局",
        roles: &[Role::Consumer, Role::Clerk],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "supervision",
        name: "廊坊市电子监察室",
        roles: &[Role::Auditor],
        client_certificate: true,
    },
    DepartmentSeed {
        code: "data-bureau",
        name: "廊坊市政务服务数据管理局",
        roles: &[Role::Admin, Role::Auditor],
        client_certificate: false,
    },
    // Not a department: where citizens' own accounts live.
    DepartmentSeed {
        code: "public",
        name: "社会公众",
        roles: &[Role::Citizen],
        client_certificate: false,
    },
];

/// The provider department of each base library.
pub fn provider_of(library: BaseLibrary) -> &'static str {
    match library {
        BaseLibrary::Population => "public-security",
        BaseLibrary::LegalEntity => "market-regulation",
        BaseLibrary::CreditRecord => "credit-office",
    }
}

/// A department's USCC: a government organ (`11`) registered in the demo city, with an
/// organisation code derived from its position in the list.
pub fn department_uscc(index: usize) -> Result<Uscc, ApiError> {
    let division =
        DivisionCode::parse(DEMO_DIVISION).map_err(|e| ApiError::Internal(e.to_string()))?;
    Uscc::from_parts('1', '1', division, &format!("{:08}", 1_310_000 + index * 7))
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Creates or updates the departments.
pub async fn departments(store: &Store, now: i64) -> Result<(), ApiError> {
    for (i, seed) in DEPARTMENTS.iter().enumerate() {
        let dept = Department {
            code: seed.code.to_owned(),
            name: seed.name.to_owned(),
            uscc: department_uscc(i)?.to_string(),
            roles: seed.roles.iter().copied().collect(),
        };
        store.upsert_department(&dept, now).await?;
    }
    Ok(())
}

/// Creates the catalogue entries of the three base libraries where missing.
pub async fn resources(store: &Store, now: i64) -> Result<(), ApiError> {
    for library in BaseLibrary::ALL {
        match store.resource_for_library(library).await {
            Ok(_) => continue,
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let dept = store.department(provider_of(library)).await?;
        let provider = Provider {
            department: dept.code.clone(),
            name: dept.name.clone(),
            code: Uscc::parse(&dept.uscc).map_err(|e| ApiError::Internal(e.to_string()))?,
        };
        let definition = base_library_resource(library, provider)?;
        store.upsert_resource(&definition, now).await?;
    }
    Ok(())
}

/// Issues and registers a client certificate for every department that has none yet.
pub async fn certificates(
    store: &Store,
    paths: &PkiPaths,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    for seed in DEPARTMENTS.iter().filter(|d| d.client_certificate) {
        let cert_file = paths.client_cert(seed.code);
        if cert_file.exists() && paths.client_key(seed.code).exists() {
            let fingerprint = pki::fingerprint_of_pem_file(&cert_file)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if store.certificate(&fingerprint).await.is_ok() {
                continue;
            }
        }
        let issued = pki::issue_client(paths, seed.code, seed.name, now)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        store
            .register_certificate(
                &CertificateRecord {
                    fingerprint: issued.fingerprint,
                    department: seed.code.to_owned(),
                    subject: issued.subject,
                    not_after: issued.not_after,
                    revoked: false,
                },
                now.unix_timestamp() * 1000,
            )
            .await?;
    }
    Ok(())
}

/// Seeds the demo grants (approval bureau, real-estate centre) unless grants exist already.
pub async fn demo_grants(store: &Store, now: i64) -> Result<(), ApiError> {
    if !store.list_grants().await?.is_empty() {
        return Ok(());
    }
    let resources = store.list_resources().await?;
    for grant in crate::grants::demo_grants(&resources, now) {
        grant.check().map_err(ApiError::Internal)?;
        store.create_grant(&grant, None, "demo", now).await?;
    }
    Ok(())
}

/// A seeded account and its first password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    /// Sign-in name.
    pub username: String,
    /// Password, shown once at set-up.
    pub password: String,
    /// Department code.
    pub department: String,
    /// Roles, comma-separated.
    pub roles: String,
}

/// One account per role for the demo; `admin` alone for a plain installation.
pub fn account_plan(
    demo: bool,
) -> Vec<(&'static str, &'static str, &'static str, &'static [Role])> {
    let mut plan: Vec<(&str, &str, &str, &[Role])> =
        vec![("admin", "系统管理员", "data-bureau", &[Role::Admin])];
    if demo {
        plan.extend_from_slice(&[
            (
                "provider",
                "公安局数据管理员",
                "public-security",
                &[Role::Provider] as &[Role],
            ),
            (
                "consumer",
                "行政审批局数据专员",
                "approval-bureau",
                &[Role::Consumer],
            ),
            (
                "issuer",
                "市场监管局发证员",
                "market-regulation",
                &[Role::Issuer],
            ),
            (
                "clerk",
                "行政审批局窗口工作人员",
                "approval-bureau",
                &[Role::Clerk, Role::Consumer],
            ),
            ("auditor", "电子监察员", "supervision", &[Role::Auditor]),
        ]);
    }
    plan
}

/// Creates the planned accounts that do not exist yet, with random passwords, and records
/// the new logins in `logins_file` (mode 0600) beside those created earlier.
pub async fn accounts(
    store: &Store,
    demo: bool,
    logins_file: &Path,
    now: i64,
) -> Result<Vec<Login>, ApiError> {
    let mut logins: Vec<Login> = match std::fs::read_to_string(logins_file) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for (username, display, department, roles) in account_plan(demo) {
        match store.user_by_name(username).await {
            Ok(_) => continue,
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let password = auth::new_password()?;
        let roles: Roles = roles.iter().copied().collect();
        let user = crate::routes::new_user(
            store,
            username.into(),
            display.into(),
            department.into(),
            roles,
            &password,
            None,
        )
        .await?;
        store.create_user(&user, now).await?;
        logins.retain(|l| l.username != username);
        logins.push(Login {
            username: username.into(),
            password,
            department: department.into(),
            roles: roles.to_string(),
        });
    }
    write_private(
        logins_file,
        &serde_json::to_string_pretty(&logins).map_err(|e| ApiError::Internal(e.to_string()))?,
    )?;
    Ok(logins)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}
