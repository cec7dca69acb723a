//! The `strongroom` command: a thin CLI over the library.
fn main() {}
