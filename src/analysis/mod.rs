//! Analysis of heap graphs: class keys, dominators, retained sizes, retainer paths, and the
//! comparison of snapshots of one process. Synchronous and pure.

pub mod classes;
pub mod dominators;

pub use classes::{ClassId, ClassIndex, MAX_SHAPE_PROPERTIES};
pub use dominators::Dominators;
