//! OCFL 1.1: the on-disk layout of the archive's records (one object per record).
pub mod layout;
pub mod validate;
