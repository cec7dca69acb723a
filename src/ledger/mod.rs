//! The ledger: the archive's append-only, tamper-evident event log (RFC 9162 Merkle tree,
//! C2SP `tlog-tiles`, `tlog-checkpoint` and `signed-note` formats).
//!
//! Owns the tree arithmetic and proofs ([`merkle`]), the tile and entry-bundle layout under
//! `ledger/` in the store ([`tiles`]), and the checkpoint text the archive signs
//! ([`checkpoint`]); these three are storage-independent. [`log`] is the ledger in the store:
//! appends (group commit, the commit point), recovery, proofs and verification, under
//! `ledger/` only; it never touches `ocfl/`. [`claim`] is the batch claim that orders appends
//! from several writers (`ledger/next/<size>`). The format is specified in `formats/ledger.md`;
//! keep the two in step.

pub mod checkpoint;
pub mod claim;
pub mod commit;
pub mod entry;
pub mod log;
pub mod merkle;
pub mod tiles;

pub use log::{
    Appended, GroupCommit, Ledger, LedgerError, LedgerFinding, LedgerRecovery, LedgerVerifyReport,
    SignedCheckpoint, TlogProof,
};
pub use merkle::{Hash, LeafIndex, TreeSize};

/// Version of the ledger format described in `formats/ledger.md`.
pub const FORMAT_VERSION: u32 = 1;

/// The oldest ledger format this code reads.
pub const OLDEST_SUPPORTED_FORMAT: u32 = 1;

/// Prefix of every ledger object in the store (`ledger/checkpoint`, `ledger/tile/...`).
pub const STORE_PREFIX: &str = "ledger";
