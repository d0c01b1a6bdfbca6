//! The development PKI: a CA, the server certificate, and one client certificate per
//! department.
//!
//! Production installations bring certificates from the province's CA; the demo and the tests
//! need real ones too, because the gateway speaks only TLS and department systems
//! authenticate only with client certificates. Keys are ECDSA P-256. Private keys are written
//! with mode 0600.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// Failure to make or read certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds no certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Paths of the development PKI inside a data directory.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    /// `pki/`.
    pub dir: PathBuf,
}

impl PkiPaths {
    /// The PKI of data directory `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        PkiPaths {
            dir: data_dir.join("pki"),
        }
    }
    /// CA certificate.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// CA key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// Server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.crt")
    }
    /// Server key.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    /// A department's client certificate.
    pub fn client_cert(&self, department: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{department}.crt"))
    }
    /// A department's client key.
    pub fn client_key(&self, department: &str) -> PathBuf {
        self.dir.join("clients").join(format!("{department}.key"))
    }
}

/// A certificate issued by the development CA.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// PEM of the certificate.
    pub cert_pem: String,
    /// SHA-256 of the DER, lower-case hex: how the store recognises a client certificate.
    pub fingerprint: String,
    /// Subject common name.
    pub subject: String,
    /// Expiry, Unix seconds.
    pub not_after: i64,
}

fn validity(params: &mut CertificateParams, now: OffsetDateTime, days: i64) {
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

/// Creates the CA and the server certificate (for `localhost`, `127.0.0.1`, `::1` and any
/// extra names) unless they already exist. Returns whether anything was created.
pub fn ensure_ca_and_server(
    paths: &PkiPaths,
    extra_names: &[String],
    now: OffsetDateTime,
) -> Result<bool, PkiError> {
    if paths.ca_cert().exists()
        && paths.ca_key().exists()
        && paths.server_cert().exists()
        && paths.server_key().exists()
    {
        return Ok(false);
    }
    fs::create_dir_all(paths.dir.join("clients")).map_err(io(&paths.dir))?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "Tongban development CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "通办数据共享交换平台");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut ca, now, 3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    write_private(&paths.ca_key(), &ca_key.serialize_pem())?;
    fs::write(paths.ca_cert(), ca_cert.pem()).map_err(io(&paths.ca_cert()))?;
    let issuer = Issuer::new(ca, ca_key);

    issue_server(paths, &issuer, extra_names, now)?;
    Ok(true)
}

/// Issues a new server certificate and key from the existing CA (for `localhost`,
/// `127.0.0.1`, `::1` and `extra_names`), replacing the files; a running gateway picks them up
/// without a restart.
pub fn renew_server(
    paths: &PkiPaths,
    extra_names: &[String],
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    let ca_key_pem = fs::read_to_string(paths.ca_key()).map_err(io(&paths.ca_key()))?;
    let ca_pem = fs::read_to_string(paths.ca_cert()).map_err(io(&paths.ca_cert()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, KeyPair::from_pem(&ca_key_pem)?)?;
    issue_server(paths, &issuer, extra_names, now)
}

fn issue_server<S: rcgen::SigningKey>(
    paths: &PkiPaths,
    issuer: &Issuer<'_, S>,
    extra_names: &[String],
    now: OffsetDateTime,
) -> Result<(), PkiError> {
    let server_key = KeyPair::generate()?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut server = CertificateParams::new(names)?;
    server.distinguished_name = DistinguishedName::new();
    server
        .distinguished_name
        .push(DnType::CommonName, "tongban gateway");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut server, now, 825);
    let server_cert = server.signed_by(&server_key, issuer)?;
    write_private(&paths.server_key(), &server_key.serialize_pem())?;
    fs::write(paths.server_cert(), server_cert.pem()).map_err(io(&paths.server_cert()))?;
    Ok(())
}

/// Issues a client certificate for `department` (common name = department code) and writes
/// it with its key to `pki/clients/`.
pub fn issue_client(
    paths: &PkiPaths,
    department: &str,
    organisation: &str,
    now: OffsetDateTime,
) -> Result<IssuedCertificate, PkiError> {
    let ca_pem = fs::read_to_string(paths.ca_cert()).map_err(io(&paths.ca_cert()))?;
    let key_pem = fs::read_to_string(paths.ca_key()).map_err(io(&paths.ca_key()))?;
    let ca_key = KeyPair::from_pem(&key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, department);
    params
        .distinguished_name
        .push(DnType::OrganizationName, organisation);
    params.subject_alt_names = vec![SanType::URI(
        format!("urn:tongban:department:{department}").try_into()?,
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, now, 825);
    let not_after = params.not_after.unix_timestamp();
    let cert = params.signed_by(&key, &issuer)?;
    fs::create_dir_all(paths.dir.join("clients")).map_err(io(&paths.dir))?;
    write_private(&paths.client_key(department), &key.serialize_pem())?;
    fs::write(paths.client_cert(department), cert.pem())
        .map_err(io(&paths.client_cert(department)))?;
    Ok(IssuedCertificate {
        cert_pem: cert.pem(),
        fingerprint: fingerprint(cert.der()),
        subject: department.to_owned(),
        not_after,
    })
}

/// SHA-256 of a certificate's DER, lower-case hex.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// Fingerprint of the first certificate in a PEM file.
pub fn fingerprint_of_pem_file(path: &Path) -> Result<String, PkiError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let cert = CertificateDer::pem_file_iter(path)
        .map_err(|_| PkiError::NoCertificate(path.to_path_buf()))?
        .next()
        .ok_or_else(|| PkiError::NoCertificate(path.to_path_buf()))?
        .map_err(|_| PkiError::NoCertificate(path.to_path_buf()))?;
    Ok(fingerprint(&cert))
}

fn write_private(path: &Path, pem: &str) -> Result<(), PkiError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io(path))?;
    file.write_all(pem.as_bytes()).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_ca_a_server_and_client_certificates_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path());
        let now = OffsetDateTime::now_utc();
        assert!(ensure_ca_and_server(&paths, &[], now).expect("created"));
        assert!(!ensure_ca_and_server(&paths, &[], now).expect("reused"));
        let issued = issue_client(&paths, "approval-bureau", "行政审批局", now).expect("issued");
        assert_eq!(
            issued.fingerprint,
            fingerprint_of_pem_file(&paths.client_cert("approval-bureau")).expect("read")
        );
        assert_eq!(issued.fingerprint.len(), 64);
    }
}
