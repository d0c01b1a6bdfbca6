//! E-licences (电子证照): issuing, verifying, selective disclosure, status lists, the trust
//! list and QR encoding.
//!
//! The crate is part of the workspace from the start so that the dependency direction
//! (gateway → certs → schemas) is fixed before any licence code exists. Licence identifiers
//! (GB/T 36904) already live in `schemas::id`; the licence machinery arrives with the
//! e-licence capability.
