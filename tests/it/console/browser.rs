//! A headless Chromium driven over WebDriver (chromedriver), pointed at a test hub.
//!
//! Chromium trusts exactly the hub's server key (its SPKI hash is pinned on the command
//! line) rather than ignoring certificate errors. Every step can save a screenshot at
//! 1280×800 and at phone size (390×844), and at phone size the page must not scroll
//! sideways. Screenshots go to `$CARGO_TARGET_DIR/console-screenshots/<test>/` (or
//! `target/…` in the workspace).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine as _;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tongban_tests::TestHub;

/// How long one page or element may take to appear.
const PATIENCE: Duration = Duration::from_secs(30);

/// A browser session and the chromedriver serving it.
pub struct Browser {
    client: Client,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    base: String,
    shots: PathBuf,
    step: AtomicU32,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn program(variable: &str, default: &str) -> anyhow::Result<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if !path.exists() {
        bail!(
            "{} not found: install the Debian packages chromium and chromium-driver (tests/run.sh does), or set {variable}",
            path.display()
        );
    }
    Ok(path)
}

/// Where this test's screenshots go.
fn screenshot_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("console-screenshots").join(test)
}

/// Base64 of the SHA-256 of the hub server certificate's public key, for Chromium's pin.
fn server_spki(hub: &TestHub) -> anyhow::Result<String> {
    let pem = std::fs::read(hub.pki().server_cert())?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).context("server certificate PEM")?;
    let cert = pem.parse_x509().context("server certificate")?;
    let spki = cert.tbs_certificate.subject_pki.raw;
    Ok(base64::engine::general_purpose::STANDARD.encode(Sha256::digest(spki)))
}

/// Starts chromedriver on a free port and reads the port it reports.
async fn start_driver() -> anyhow::Result<(tokio::process::Child, u16)> {
    let mut command =
        tokio::process::Command::new(program("TONGBAN_CHROMEDRIVER", "/usr/bin/chromedriver")?);
    command
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    // Its own process group, so that the browsers it starts go with it.
    command.process_group(0);
    let mut driver = command.spawn().context("starting chromedriver")?;
    let mut stdout = driver.stdout.take().context("chromedriver stdout")?;
    let pattern = regex::Regex::new(r"started successfully on port (\d+)")?;
    let mut seen = String::new();
    let port = tokio::time::timeout(PATIENCE, async {
        let mut buffer = [0u8; 1024];
        loop {
            let n = stdout.read(&mut buffer).await?;
            if n == 0 {
                bail!("chromedriver exited: {seen}");
            }
            seen.push_str(&String::from_utf8_lossy(&buffer[..n]));
            if let Some(port) = pattern
                .captures(&seen)
                .and_then(|c| c[1].parse::<u16>().ok())
            {
                return Ok(port);
            }
        }
    })
    .await
    .context("chromedriver did not report its port")??;
    // Keep draining its output so that it never blocks on a full pipe.
    tokio::spawn(async move {
        let mut sink = [0u8; 4096];
        while matches!(stdout.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    Ok((driver, port))
}

impl Browser {
    /// Starts a browser for `hub`; `extra` are further Chromium switches.
    pub async fn open(hub: &TestHub, test: &str, extra: &[String]) -> anyhow::Result<Browser> {
        let (driver, port) = start_driver().await?;
        let profile = tempfile::tempdir()?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--lang=zh-CN".to_owned(),
            "--window-size=1280,800".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
            format!(
                "--ignore-certificate-errors-spki-list={}",
                server_spki(hub)?
            ),
        ];
        args.extend_from_slice(extra);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": program("TONGBAN_CHROMIUM", "/usr/bin/chromium")?,
                "args": args,
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .context("opening a WebDriver session")?;
        client.set_window_size(1280, 800).await?;
        let shots = screenshot_dir(test);
        std::fs::create_dir_all(&shots)?;
        Ok(Browser {
            client,
            driver,
            _profile: profile,
            base: hub.base(),
            shots,
            step: AtomicU32::new(0),
        })
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `path` on the hub.
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .with_context(|| format!("opening {path}"))
    }

    /// Waits for an element of the current page.
    pub async fn wait(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        let found = self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await;
        match found {
            Ok(element) => Ok(element),
            Err(e) => {
                let url = self.client.current_url().await.ok();
                let text = self.text_of_page().await;
                Err(e).with_context(|| format!("waiting for {css} on {url:?}: {text}"))
            }
        }
    }

    /// The visible text of the page, cut short, for failure messages.
    async fn text_of_page(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(600)
                .collect(),
            Err(_) => String::new(),
        }
    }

    /// Types `value` into the field `css` (cleared first).
    pub async fn fill(&self, css: &str, value: &str) -> anyhow::Result<()> {
        let field = self.wait(css).await?;
        field.clear().await?;
        field.send_keys(value).await?;
        Ok(())
    }

    /// Picks the option with `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) -> anyhow::Result<()> {
        self.wait(css).await?.select_by_value(value).await?;
        Ok(())
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait(css).await?.click().await?;
        Ok(())
    }

    /// Clicks `button` (which submits a form) and waits until the next page shows `expect`.
    /// The current page is marked first, so an element of the old page never counts.
    pub async fn submit(&self, button: &str, expect: &str) -> anyhow::Result<()> {
        self.client
            .execute("document.documentElement.dataset.stale = '1';", vec![])
            .await?;
        self.click(button).await?;
        self.wait(&format!("html:not([data-stale]) {expect}"))
            .await?;
        Ok(())
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.wait(css).await?.text().await?)
    }

    /// An attribute of `css`.
    pub async fn attr(&self, css: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self.wait(css).await?.attr(name).await?)
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> anyhow::Result<usize> {
        Ok(self.client.find_all(Locator::Css(css)).await?.len())
    }

    /// The texts of every element matching `css` now.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await? {
            out.push(e.text().await?);
        }
        Ok(out)
    }

    /// The menu entries, as their hrefs.
    pub async fn menu(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css("#menu a")).await? {
            out.push(e.attr("href").await?.unwrap_or_default());
        }
        Ok(out)
    }

    /// Signs in through the form and waits for the home page.
    pub async fn sign_in(&self, username: &str, password: &str) -> anyhow::Result<()> {
        self.goto("/console/login").await?;
        self.fill("#username", username).await?;
        self.fill("#password", password).await?;
        self.submit("#sign-in", "#whoami").await?;
        let who = self.text("#whoami").await?;
        anyhow::ensure!(who == username, "signed in as {who}, not {username}");
        Ok(())
    }

    /// Signs out through the header's form.
    pub async fn sign_out(&self) -> anyhow::Result<()> {
        self.submit("#sign-out", "#sign-in").await
    }

    /// Saves screenshots of the current page at desk and phone size, and checks that at
    /// phone size nothing makes the page scroll sideways.
    pub async fn shot(&self, name: &str) -> anyhow::Result<()> {
        let n = self.step.fetch_add(1, Ordering::Relaxed);
        std::fs::write(
            self.shots.join(format!("{n:02}-{name}-1280x800.png")),
            self.client.screenshot().await?,
        )?;
        self.client.set_window_size(390, 844).await?;
        let widths = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await?;
        std::fs::write(
            self.shots.join(format!("{n:02}-{name}-phone.png")),
            self.client.screenshot().await?,
        )?;
        self.client.set_window_size(1280, 800).await?;
        let (scroll, client) = (widths[0].as_u64(), widths[1].as_u64());
        anyhow::ensure!(
            scroll.is_some() && scroll <= client,
            "{name}: the page is wider than a phone screen ({widths})"
        );
        Ok(())
    }

    /// Runs `script` (which may `await`) in the page and returns what it returns.
    pub async fn run(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        let wrapped = format!(
            "const done = arguments[arguments.length - 1];
             (async () => {{ {script} }})().then(done, (e) => done({{error: String(e)}}));"
        );
        let value = self.client.execute_async(&wrapped, args).await?;
        if let Some(e) = value.get("error") {
            bail!("script failed: {e}");
        }
        Ok(value)
    }

    /// Ends the session and the browser.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.client.clone().close().await?;
        let _ = self.driver.kill().await;
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test ends here without `close`: take chromedriver's whole process group
        // (the browser included) with it.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
    }
}
