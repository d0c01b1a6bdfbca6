//! TLS for the gateway: TLS 1.2 and 1.3 only, the ring provider's modern suites, and optional
//! client certificates from the hub's CA.
//!
//! A client certificate is optional at the TLS layer because people sign in with tokens from
//! browsers; when one is presented it must chain to the configured CA (a foreign certificate
//! fails the handshake). The request handler then decides, from the store, which department
//! the certificate belongs to.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, ServerConfig, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::TlsConfig;

/// The fingerprint of the client certificate a connection presented, attached to each
/// request made on that connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    /// SHA-256 of the DER, hex.
    pub fingerprint: String,
}

/// TLS material that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file is missing or unreadable.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA cannot verify anything.
    #[error("client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn file_error(path: &Path, message: impl ToString) -> TlsError {
    TlsError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if !path.exists() {
        return Err(file_error(path, "missing certificate file"));
    }
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(path, e))?;
    if certs.is_empty() {
        return Err(file_error(path, "no PEM certificate in file"));
    }
    Ok(certs)
}

/// When the certificate and key files last changed, as far as reloading cares.
type Stamp = (Option<SystemTime>, Option<SystemTime>, u64, u64);

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let meta = |p: &Path| std::fs::metadata(p).ok();
    let (c, k) = (meta(cert), meta(key));
    (
        c.as_ref().and_then(|m| m.modified().ok()),
        k.as_ref().and_then(|m| m.modified().ok()),
        c.map_or(0, |m| m.len()),
        k.map_or(0, |m| m.len()),
    )
}

/// The server certificate, replaced without a restart when its files change: connections
/// made after the swap get the new one, open connections keep theirs.
#[derive(Debug)]
pub struct ServerCertificate {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

impl ServerCertificate {
    fn load(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let chain = certificates(cert)?;
        if !key.exists() {
            return Err(file_error(key, "missing private key file"));
        }
        let der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))?;
        let certified = CertifiedKey::from_der(chain, der, provider)?;
        Ok(certified)
    }

    fn open(tls: &TlsConfig, provider: Arc<CryptoProvider>) -> Result<ServerCertificate, TlsError> {
        let at = stamp(&tls.cert, &tls.key);
        let certified = ServerCertificate::load(&tls.cert, &tls.key, &provider)?;
        Ok(ServerCertificate {
            cert: tls.cert.clone(),
            key: tls.key.clone(),
            provider,
            current: RwLock::new((Arc::new(certified), at)),
        })
    }

    /// Reloads the files if they changed since the last load. A pair that does not load
    /// (half-written, or a key that does not match the certificate) is an error and the
    /// certificate in service stays; the next call tries again. Returns whether it swapped.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let at = stamp(&self.cert, &self.key);
        let unchanged = self.current.read().map(|c| c.1 == at).unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        let certified = ServerCertificate::load(&self.cert, &self.key, &self.provider)?;
        if let Ok(mut current) = self.current.write() {
            *current = (Arc::new(certified), at);
        }
        Ok(true)
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| Arc::clone(&c.0))
    }
}

/// Builds the server configuration from the configured files. The certificate is served
/// through the returned handle, which reloads it when its files change.
pub fn server_config(
    tls: &TlsConfig,
) -> Result<(Arc<ServerConfig>, Arc<ServerCertificate>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificate = Arc::new(ServerCertificate::open(tls, Arc::clone(&provider))?);
    let mut roots = RootCertStore::empty();
    for ca in certificates(&tls.client_ca)? {
        roots.add(ca).map_err(|e| file_error(&tls.client_ca, e))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::clone(&certificate) as Arc<dyn ResolvesServerCert>);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((Arc::new(config), certificate))
}
