//! Three-way planning; filled in with the sync engine.
