//! strongroom: a long-term electronic archive repository.
//!
//! Agencies transfer closed cases (移交) as BagIt packages; strongroom runs the four checks of
//! DA/T 70-2018 (四性检测), stores every record as an OCFL 1.1 object through `object_store`,
//! and answers with a signed receipt (接收凭证) or one report listing every problem.
//! The design and its invariants are in `DESIGN.md` of the shared folder; each on-disk or
//! on-wire format is specified in `formats/`.
//!
//! Data flows one way: [`intake`] → [`store`] (OCFL) → ledger → index.

pub mod access;
pub mod audit;
pub mod bagit;
pub mod copy;
pub mod digest;
pub mod extract;
pub mod findings;
pub mod formats;
pub mod home;
pub mod intake;
pub mod ledger;
pub mod ocfl;
pub mod package;
pub mod record;
pub mod refcode;
pub mod replica;
pub mod retention;
pub mod seals;
pub mod search;
pub mod server;
pub mod sign;
pub mod store;
pub mod users;
pub mod verify;
