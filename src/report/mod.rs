//! Reports for people and machines: text (aligned, coloured on a terminal), versioned JSON,
//! and a self-contained HTML page.

pub mod diff;
mod explain;
pub mod format;
pub mod github;
pub mod html;
pub mod merge;
pub mod run;
pub mod style;
pub mod summary;
