//! OCFL 1.1
