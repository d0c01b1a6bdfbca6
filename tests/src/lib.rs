//! Shared helpers for the end-to-end tests: start a real gateway on a loopback port over a
//! fresh data directory, and build HTTPS clients that present a department's certificate, a
//! bearer token, or nothing.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use tongban_gateway::cli;
use tongban_gateway::pki::PkiPaths;
use tongban_gateway::seed::Login;
use tongban_gateway::store::Store;
use tongban_gateway::{Application, Config, ShutdownHandle};
use tongban_schemas::BaseLibrary;

/// A running gateway with its own data directory.
#[derive(Debug)]
pub struct TestHub {
    /// The data directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// The bound address.
    pub addr: SocketAddr,
    /// The bound Arrow Flight SQL address, for hubs started with it.
    pub flight_addr: Option<SocketAddr>,
    /// The configuration in force.
    pub config: Config,
    /// Seeded accounts and their passwords.
    pub logins: Vec<Login>,
    _handle: ShutdownHandle,
}

impl TestHub {
    /// Initialises a demo directory (departments, PKI, accounts, catalogue; no data) and
    /// starts the gateway on a free loopback port.
    pub async fn start() -> anyhow::Result<TestHub> {
        TestHub::launch(0, false).await
    }

    /// Like [`TestHub::start`], with `people` synthetic people (and their entities and credit
    /// records) published before the gateway starts.
    pub async fn with_data(people: usize) -> anyhow::Result<TestHub> {
        TestHub::launch(people, false).await
    }

    /// Like [`TestHub::with_data`], also serving Arrow Flight SQL on a free loopback port
    /// ([`TestHub::flight_uri`]).
    pub async fn with_data_and_flight(people: usize) -> anyhow::Result<TestHub> {
        TestHub::launch(people, true).await
    }

    /// Like [`TestHub::with_data`], running `prepare` on the initialised data directory and
    /// its configuration before the gateway starts (to seed what the gateway loads at start).
    pub async fn with_data_prepared<F, Fut>(people: usize, prepare: F) -> anyhow::Result<TestHub>
    where
        F: FnOnce(PathBuf, Config) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        TestHub::launch_with(people, false, prepare).await
    }

    /// Like [`TestHub::with_data`], with `configure` applied to the configuration first.
    pub async fn configured(
        people: usize,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestHub> {
        TestHub::launch_configured(people, false, configure).await
    }

    /// Like [`TestHub::with_data`], with queries running on a Ballista cluster started
    /// inside the gateway (`[query] engine = "ballista"`, `scheduler = "standalone"`).
    pub async fn on_ballista(people: usize) -> anyhow::Result<TestHub> {
        TestHub::launch_configured(people, false, |config| {
            config.query.engine = tongban_gateway::config::EngineKind::Ballista;
            config.query.scheduler = Some("standalone".into());
            // One job per query, polled by an executor with two task slots: a plan of
            // hundreds of partitions takes tens of seconds here, not a fraction of one.
            config.query.timeout_seconds = 120;
        })
        .await
    }

    async fn launch(people: usize, flight: bool) -> anyhow::Result<TestHub> {
        TestHub::launch_with(people, flight, |_, _| async { Ok(()) }).await
    }

    async fn launch_configured(
        people: usize,
        flight: bool,
        configure: impl FnOnce(&mut Config),
    ) -> anyhow::Result<TestHub> {
        let mut configure = Some(configure);
        TestHub::launch_full(
            people,
            flight,
            &mut |c| {
                if let Some(f) = configure.take() {
                    f(c);
                }
            },
            |_, _| async { Ok(()) },
        )
        .await
    }

    async fn launch_with<F, Fut>(people: usize, flight: bool, prepare: F) -> anyhow::Result<TestHub>
    where
        F: FnOnce(PathBuf, Config) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        TestHub::launch_full(people, flight, &mut |_| {}, prepare).await
    }

    async fn launch_full<F, Fut>(
        people: usize,
        flight: bool,
        configure: &mut dyn FnMut(&mut Config),
        prepare: F,
    ) -> anyhow::Result<TestHub>
    where
        F: FnOnce(PathBuf, Config) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<()>>,
    {
        let dir = tempfile::tempdir()?;
        let (mut config, logins) =
            cli::init(dir.path(), "127.0.0.1:0".parse()?, None, &[], true).await?;
        if people > 0 {
            publish(dir.path(), &config, people).await?;
        }
        prepare(dir.path().to_path_buf(), config.clone()).await?;
        if flight {
            config.flight_listen = Some("127.0.0.1:0".parse()?);
        }
        configure(&mut config);
        let app = Application::build(config.clone()).await?;
        let addr = app.local_addr();
        let flight_addr = app.flight_addr();
        let handle = app.spawn();
        Ok(TestHub {
            dir,
            addr,
            flight_addr,
            config,
            logins,
            _handle: handle,
        })
    }

    /// `grpc+tls://127.0.0.1:<port>` of the Flight SQL endpoint.
    pub fn flight_uri(&self) -> anyhow::Result<String> {
        let addr = self
            .flight_addr
            .context("this hub was started without Flight SQL")?;
        Ok(format!("grpc+tls://{addr}"))
    }

    /// `https://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The development PKI of this hub.
    pub fn pki(&self) -> PkiPaths {
        PkiPaths::new(self.dir.path())
    }

    /// A client that trusts the hub's CA and presents no certificate.
    pub fn anonymous(&self) -> anyhow::Result<reqwest::Client> {
        client(&self.pki().ca_cert(), None)
    }

    /// A client presenting `department`'s certificate.
    pub fn department(&self, department: &str) -> anyhow::Result<reqwest::Client> {
        let pki = self.pki();
        client(
            &pki.ca_cert(),
            Some((&pki.client_cert(department), &pki.client_key(department))),
        )
    }

    /// The seeded password of `username`.
    pub fn password(&self, username: &str) -> anyhow::Result<String> {
        self.logins
            .iter()
            .find(|l| l.username == username)
            .map(|l| l.password.clone())
            .with_context(|| format!("no seeded account {username}"))
    }

    /// Signs in as a seeded account and returns the bearer token.
    pub async fn token(&self, username: &str) -> anyhow::Result<String> {
        let response = self
            .anonymous()?
            .post(format!("{}/v1/auth/login", self.base()))
            .json(&serde_json::json!({"username": username, "password": self.password(username)?}))
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == 200,
            "login failed: {}",
            response.status()
        );
        let body: serde_json::Value = response.json().await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("no token in the login answer")
    }
}

/// Generates `people` synthetic people with linked records and publishes every library.
async fn publish(dir: &Path, config: &Config, people: usize) -> anyhow::Result<()> {
    let store = Store::connect(config.store.url.expose(), 2).await?;
    let generated = dir.join("generated");
    let generator = tongban_schemas::generate::GeneratorConfig::new(7, people, cli::today());
    tongban_schemas::generate::generate(&generator, &generated, &|_| {})?;
    for library in BaseLibrary::ALL {
        let mut files: Vec<PathBuf> = std::fs::read_dir(generated.join(library.table_name()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        tongban_gateway::publish::publish_files(
            &store,
            &config.data_dir,
            library,
            files,
            "test",
            cli::today(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("publishing {library}: {e}"))?;
    }
    store.close().await;
    Ok(())
}

/// An HTTPS client trusting `ca`, optionally presenting a certificate and key.
pub fn client(ca: &Path, identity: Option<(&Path, &Path)>) -> anyhow::Result<reqwest::Client> {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca)?)?;
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(ca)
        .tls_built_in_root_certs(false)
        .use_rustls_tls();
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(cert)?;
        pem.extend(std::fs::read(key)?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

/// The `error.code` of an error body.
pub async fn error_code(response: reqwest::Response) -> anyhow::Result<String> {
    let body: serde_json::Value = response.json().await?;
    body["error"]["code"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("not an error body: {body}"))
}
