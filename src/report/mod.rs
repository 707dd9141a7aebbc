//! Reports for people and machines: text (aligned, coloured on a terminal), versioned JSON,
//! and a self-contained HTML page.

pub mod diff;
mod explain;
pub mod github;
pub mod html;
mod junit_properties;
mod lock;
pub mod merge;
pub mod run;
pub mod summary;
