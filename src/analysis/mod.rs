//! Analysis of heap graphs: class keys, dominators, retained sizes, retainer paths, and the
//! comparison of snapshots of one process. Synchronous and pure.
