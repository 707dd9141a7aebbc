//! Running one target: start it, drive load route by route, take snapshots over the inspector,
//! compare them and judge each route.

pub mod verdict;
