//! E-licences (电子证照): issuing, verifying, selective disclosure, status lists, the trust
//! list and QR encoding.
//!
//! A licence is an SD-JWT (RFC 9901) signed by its issuing department: the payload carries the
//! GB/T 36904 identifier (`jti`), the licence type (`vct`), the holder, the validity and a
//! reference into an IETF Token Status List; each face field is a separate disclosure, so a
//! clerk sees only the fields a matter needs.
//!
//! The crate is a library of pure functions. It never reads the clock, the environment, files
//! or the network: `now`, keys, trust lists, status lists and policies are arguments. The
//! gateway stores keys, status lists and issued licences, and publishes the signed trust list
//! and status lists; offline verifiers load the same signed files and bound their age.
//!
//! Main entry points:
//! - [`issue`] — validate a face and sign a licence;
//! - [`present`] — keep a subset of the disclosures, optionally with key binding;
//! - [`verify`] — the one verification path, online and offline;
//! - [`StatusList`] — suspend, reinstate, revoke, sign and read status lists;
//! - [`TrustList`] / [`TrustStore`] — the signed list of issuer keys and its parsed form;
//! - [`qr`] — QR rendering and reading.
//!
//! Every refusal is a [`LicenceError`] with a stable [`LicenceError::code`].

pub mod document;
mod error;
mod jws;
pub mod keys;
mod licence;
pub mod qr;
pub mod sdjwt;
pub mod status;
pub mod strict;
pub mod trust;

pub use error::{LicenceError, Party};
pub use jws::Limits;
pub use keys::{Alg, SigningKey, VerifyingKey, thumbprint};
pub use licence::{
    IssueRequest, IssuedLicence, Issuer, LICENCE_TYP, StatusLists, StatusRef, VerifiedLicence,
    VerifyPolicy, issue, verify,
};
pub use qr::{QrEncoding, QrImages};
pub use sdjwt::{KeyBinding, present};
pub use status::{LicenceStatus, StatusList, VerifiedStatusList};
pub use tongban_schemas::licence::{Face, FaceError, Holder, HolderKind, LicenceType};
pub use trust::{TrustEntry, TrustList, TrustStore};
