//! One typed configuration tree, read once at start-up.
//!
//! The file is TOML (`DIR/tongban.toml` for a data directory made by `tongban init` or
//! `tongban demo`); unknown keys are refused so a typo never silently falls back to a default.
//! Secrets may come from the environment instead of the file (`TONGBAN_STORE_URL`), and are
//! wrapped so that `Debug` prints `[REDACTED]`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A value that must never reach a log.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the HTTPS API listens.
    pub listen: SocketAddr,
    /// Public base URL used in links and the DCAT export; defaults to `https://<listen>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Where Arrow Flight SQL listens (gRPC over TLS with the same certificates as HTTPS);
    /// absent means no Flight SQL endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flight_listen: Option<SocketAddr>,
    /// The data directory: snapshots, and the SQLite file when the store is embedded.
    pub data_dir: PathBuf,
    /// TLS material.
    pub tls: TlsConfig,
    /// The metadata store.
    pub store: StoreConfig,
    /// Sign-in and sessions.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Request limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Governed SQL.
    #[serde(default)]
    pub query: QueryConfig,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Matters (事项) and the evidence of materials resolutions.
    #[serde(default)]
    pub matters: MattersConfig,
}

/// Where matter definitions come from, and the key that signs resolution evidence.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MattersConfig {
    /// A directory of matter files (`*.toml`) that replaces the shipped matters; every file
    /// is checked at start-up and any error stops the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// ES256 private JWK that signs resolution evidence (created if absent); used for
    /// nothing else. Default: `<data_dir>/keys/evidence-signing.jwk`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_key: Option<PathBuf>,
}

impl MattersConfig {
    /// The evidence signing key file.
    pub fn evidence_key_path(&self, data_dir: &Path) -> PathBuf {
        self.evidence_key
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/evidence-signing.jwk"))
    }
}

/// The audit log: keys, tree heads, group commit, retention, data subjects, alerts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Ed25519 PKCS#8 key that signs tree heads (created if absent); used for nothing else.
    /// Default: `<data_dir>/keys/audit-signing.pk8`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<PathBuf>,
    /// 32-byte key of the keyed hashes that stand for data subjects (created if absent).
    /// Default: `<data_dir>/keys/audit-subject.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_key: Option<PathBuf>,
    /// Sign a tree head after this many entries…
    pub head_every_entries: u64,
    /// …or after this many seconds, if the log grew.
    pub head_interval_seconds: u64,
    /// Most entries in one group commit.
    pub max_batch: usize,
    /// Days entry bodies are kept; 0 keeps them for ever. Leaf hashes are always kept.
    pub retention_days: u32,
    /// Subjects recorded per entry; beyond it the entry records the count and is bulk.
    pub subject_cap: usize,
    /// A single-case matter returning more subjects than this is flagged.
    pub bulk_subjects: u64,
    /// Working hours in Beijing time, `[start, end)`; accesses outside are flagged.
    pub working_hours: [u32; 2],
    /// Refusals of one department within `refusal_window_minutes` that raise a flag.
    pub refusal_alert_count: u32,
    /// The window of `refusal_alert_count`.
    pub refusal_window_minutes: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            signing_key: None,
            subject_key: None,
            head_every_entries: 1000,
            head_interval_seconds: 10,
            max_batch: 4096,
            retention_days: 0,
            subject_cap: 1000,
            bulk_subjects: 20,
            working_hours: [7, 21],
            refusal_alert_count: 5,
            refusal_window_minutes: 10,
        }
    }
}

impl AuditConfig {
    /// The tree-head signing key file.
    pub fn signing_key_path(&self, data_dir: &Path) -> PathBuf {
        self.signing_key
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/audit-signing.pk8"))
    }

    /// The subject key file.
    pub fn subject_key_path(&self, data_dir: &Path) -> PathBuf {
        self.subject_key
            .clone()
            .unwrap_or_else(|| data_dir.join("keys/audit-subject.key"))
    }
}

/// Limits of governed SQL.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Most rows one query returns (grants may lower it).
    pub max_rows: u64,
    /// Most bytes of Arrow data one query returns.
    pub max_result_bytes: u64,
    /// Time allowed for planning and running one query, seconds.
    pub timeout_seconds: u64,
    /// Queries one department may run at once.
    pub concurrency_per_department: u32,
    /// How long, in milliseconds, a query waits for one of its department's slots before it
    /// is refused with `query.too_many_concurrent`.
    pub queue_ms: u64,
    /// Memory all queries may hold together, MiB.
    pub memory_mb: u64,
    /// Partitions per query.
    pub target_partitions: u32,
    /// Where queries run: `in_process` (the default) or `ballista`.
    pub engine: EngineKind,
    /// With `engine = "ballista"`: `standalone` (scheduler and executor inside the
    /// gateway) or the scheduler's address, `http://host:50050`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
}

/// The engine that runs governed queries.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// Apache DataFusion inside the gateway.
    #[default]
    InProcess,
    /// An Apache DataFusion Ballista cluster; plans are made (under policy) in the gateway.
    Ballista,
}

impl QueryConfig {
    /// The cluster queries go to, if any; a Ballista engine without a scheduler is refused.
    pub fn scheduler(&self) -> Result<Option<tongban_catalog::query::Scheduler>, String> {
        use tongban_catalog::query::Scheduler;
        match (self.engine, self.scheduler.as_deref().map(str::trim)) {
            (EngineKind::InProcess, None) => Ok(None),
            (EngineKind::InProcess, Some(_)) => {
                Err("query.scheduler is set but query.engine is not \"ballista\"".into())
            }
            (EngineKind::Ballista, None | Some("")) => Err(
                "query.engine = \"ballista\" needs query.scheduler: \"standalone\" or http://host:port"
                    .into(),
            ),
            (EngineKind::Ballista, Some("standalone")) => Ok(Some(Scheduler::Standalone)),
            (EngineKind::Ballista, Some(url))
                if (url.starts_with("http://") || url.starts_with("https://"))
                    && url.len() > "https://".len() =>
            {
                Ok(Some(Scheduler::Remote(url.to_owned())))
            }
            (EngineKind::Ballista, Some(other)) => Err(format!(
                "query.scheduler `{other}` is neither \"standalone\" nor an http:// address"
            )),
        }
    }
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            max_rows: 10_000,
            max_result_bytes: 32 << 20,
            timeout_seconds: 30,
            concurrency_per_department: 8,
            queue_ms: 2000,
            memory_mb: 1024,
            target_partitions: 2,
            engine: EngineKind::InProcess,
            scheduler: None,
        }
    }
}

/// Certificates and keys, PEM files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server certificate chain.
    pub cert: PathBuf,
    /// The server private key.
    pub key: PathBuf,
    /// The CA whose certificates department systems present.
    pub client_ca: PathBuf,
}

/// Where metadata lives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://…` (embedded default) or `postgres://…` (production). May be overridden by
    /// `TONGBAN_STORE_URL`, which is where a password belongs.
    pub url: Secret,
    /// Pool size.
    #[serde(default = "default_pool")]
    pub max_connections: u32,
    /// How often, in seconds, a gateway looks for snapshots that another replica (or the
    /// `publish` command) made current. Licence status never waits for this: verification
    /// checks the store's licence generation first.
    #[serde(default = "default_follow")]
    pub follow_seconds: u64,
}

fn default_pool() -> u32 {
    8
}

fn default_follow() -> u64 {
    2
}

/// Sign-in settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Lifetime of a bearer token, in minutes.
    #[serde(default = "default_token_minutes")]
    pub token_minutes: i64,
}

fn default_token_minutes() -> i64 {
    8 * 60
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_minutes: default_token_minutes(),
        }
    }
}

/// Limits on what a request may carry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest JSON body, bytes.
    #[serde(default = "default_json_body")]
    pub max_json_bytes: usize,
    /// Largest publication upload, bytes.
    #[serde(default = "default_upload")]
    pub max_upload_bytes: usize,
    /// Time allowed for a TLS handshake, and then for the first request's headers, seconds.
    #[serde(default = "default_handshake")]
    pub handshake_seconds: u64,
    /// Requests one client address may start per second (sustained); 0 means no limit.
    #[serde(default = "default_rate")]
    pub requests_per_second: u32,
    /// Requests one client address may start at once above that rate.
    #[serde(default = "default_burst")]
    pub request_burst: u32,
}

// One department system usually reaches the hub from one address, so the default leaves
// room for its whole load (the hub's targets are thousands of lookups a second) and stops
// only a runaway client.
fn default_rate() -> u32 {
    10_000
}

fn default_burst() -> u32 {
    20_000
}

fn default_json_body() -> usize {
    64 * 1024
}

fn default_upload() -> usize {
    256 * 1024 * 1024
}

fn default_handshake() -> u64 {
    10
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_json_bytes: default_json_body(),
            max_upload_bytes: default_upload(),
            handshake_seconds: default_handshake(),
            requests_per_second: default_rate(),
            request_burst: default_burst(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("invalid configuration in {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The name of the configuration file inside a data directory.
pub const FILE_NAME: &str = "tongban.toml";

impl Config {
    /// Reads a configuration file, then applies environment overrides.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.message().to_owned(),
        })?;
        if let Ok(url) = std::env::var("TONGBAN_STORE_URL") {
            config.store.url = Secret::new(url);
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve_relative(base);
        Ok(config)
    }

    /// The configuration of an embedded installation rooted at `dir`.
    pub fn embedded(dir: &Path, listen: SocketAddr) -> Config {
        Config {
            listen,
            public_url: None,
            flight_listen: None,
            data_dir: dir.join("data"),
            tls: TlsConfig {
                cert: dir.join("pki/server.crt"),
                key: dir.join("pki/server.key"),
                client_ca: dir.join("pki/ca.crt"),
            },
            store: StoreConfig {
                url: Secret::new(format!(
                    "sqlite://{}?mode=rwc",
                    dir.join("tongban.db").display()
                )),
                max_connections: default_pool(),
                follow_seconds: default_follow(),
            },
            auth: AuthConfig::default(),
            limits: LimitsConfig::default(),
            query: QueryConfig::default(),
            audit: AuditConfig::default(),
            matters: MattersConfig::default(),
        }
    }

    /// Writes the configuration as TOML, with paths relative to the file's directory where
    /// they lie inside it, so a data directory can be moved whole.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut portable = self.clone();
        portable.make_relative(base);
        let text = toml::to_string_pretty(&portable).map_err(std::io::Error::other)?;
        std::fs::write(path, text)
    }

    /// The base URL of the API.
    pub fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("https://{}", self.listen))
    }

    fn paths_mut(&mut self) -> [&mut PathBuf; 4] {
        [
            &mut self.data_dir,
            &mut self.tls.cert,
            &mut self.tls.key,
            &mut self.tls.client_ca,
        ]
    }

    fn resolve_relative(&mut self, base: &Path) {
        for p in self.paths_mut() {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for p in [
            &mut self.audit.signing_key,
            &mut self.audit.subject_key,
            &mut self.matters.dir,
            &mut self.matters.evidence_key,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(rest) = self.store.url.expose().strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
            if Path::new(file).is_relative() {
                let joined = base.join(file);
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                self.store.url = Secret::new(format!("sqlite://{}{q}", joined.display()));
            }
        }
    }

    fn make_relative(&mut self, base: &Path) {
        for p in self.paths_mut() {
            if let Ok(rel) = p.strip_prefix(base) {
                *p = rel.to_path_buf();
            }
        }
        for p in [
            &mut self.audit.signing_key,
            &mut self.audit.subject_key,
            &mut self.matters.dir,
            &mut self.matters.evidence_key,
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(rel) = p.strip_prefix(base) {
                *p = rel.to_path_buf();
            }
        }
        if let Some(rest) = self.store.url.expose().strip_prefix("sqlite://") {
            let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
            if let Ok(rel) = Path::new(file).strip_prefix(base) {
                let q = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{query}")
                };
                self.store.url = Secret::new(format!("sqlite://{}{q}", rel.display()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_relative_to_its_directory_and_hides_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::embedded(dir.path(), "127.0.0.1:8443".parse().expect("addr"));
        let path = dir.path().join(FILE_NAME);
        config.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("data_dir = \"data\""), "{text}");
        let loaded = Config::load(&path).expect("load");
        assert_eq!(loaded, config);
        assert!(
            !format!("{loaded:?}").contains("sqlite"),
            "store URL is redacted"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::embedded(dir.path(), "127.0.0.1:8443".parse().expect("addr"));
        let path = dir.path().join(FILE_NAME);
        config.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("handshake_seconds"));
        std::fs::write(&path, text.replace("handshake_seconds", "handshake_secs")).expect("write");
        assert!(matches!(
            Config::load(&path),
            Err(ConfigError::Parse { .. })
        ));
    }
}
