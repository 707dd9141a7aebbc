//! Reports for people and machines: text (aligned, coloured on a terminal) and versioned JSON.

pub mod diff;
mod explain;
pub mod github;
mod lock;
pub mod merge;
pub mod run;
pub mod summary;
