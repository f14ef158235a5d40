//! The old path of usage extraction, which lives in `engine::usage` now: kept for code written
//! against it until the public API is trimmed.

#[allow(unused_imports)]
pub(crate) use crate::engine::usage::*;
