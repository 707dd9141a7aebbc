//! `--shard K/N`: the targets of a plan dealt out to the N jobs of a CI matrix, so that each
//! job runs about the same amount of work and together they run every target exactly once.
//!
//! The split is a pure function of the plan (after `--target`/`--route` filters): targets with
//! the most routes are dealt first, each to the shard with the fewest routes so far, ties going
//! to the earlier target and the lower shard. Every job of one matrix must therefore see the
//! same spec and the same filters; the machine, the time and the job's own order do not matter.
//! Dealing by name hash instead would keep a target on its shard when others are added, but it
//! balances badly for the handful of targets a spec has (two shards of four targets can get
//! three and one), and nothing depends on a target staying on a shard between commits.
//!
//! ```
//! use leakcheck::shard::Shard;
//!
//! let shard: Shard = "2/3".parse().unwrap();
//! assert_eq!((shard.index, shard.total), (2, 3));
//! // Routes per target, in spec order: the 4-route target gets a shard to itself.
//! assert_eq!(Shard::deal(&[1, 4, 2, 1], 3), [3, 1, 2, 3]);
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// One job of N: `index` runs from 1 to `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This job, 1-based.
    pub index: usize,
    /// The number of jobs.
    pub total: usize,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let usage = || format!("`{s}` is not a shard: write K/N, e.g. 1/4 for the first of four");
        let (k, n) = s.split_once('/').ok_or_else(usage)?;
        let k: usize = k.trim().parse().map_err(|_| usage())?;
        let n: usize = n.trim().parse().map_err(|_| usage())?;
        if n == 0 {
            return Err(format!("`{s}`: the number of shards must be at least 1"));
        }
        if k == 0 || k > n {
            return Err(format!(
                "`{s}`: the shard must be between 1 and {n} (shards count from 1)"
            ));
        }
        Ok(Shard { index: k, total: n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// What a sharded run records next to its report, so that `leakcheck merge-reports` can put
/// the shards back together in the spec's order and tell when one is missing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRun {
    /// This job, 1-based.
    pub index: usize,
    /// The number of jobs.
    pub total: usize,
    /// Positions (0-based, in the plan) of the targets this job ran.
    pub positions: Vec<usize>,
    /// Targets in the whole plan, across all jobs.
    pub plan_targets: usize,
}

impl ShardRun {
    /// The shard, without the targets.
    pub fn shard(&self) -> Shard {
        Shard { index: self.index, total: self.total }
    }
}

impl Shard {
    /// Deals targets with `routes[i]` routes each to `total` shards: the shard (1-based) of
    /// every target, in the same order. Deterministic; see the module documentation.
    pub fn deal(routes: &[usize], total: usize) -> Vec<usize> {
        let total = total.max(1);
        let mut order: Vec<usize> = (0..routes.len()).collect();
        // Largest first; the sort is stable, so equal targets keep the spec's order.
        order.sort_by(|&a, &b| routes[b].cmp(&routes[a]));
        let mut load = vec![0usize; total];
        let mut shard_of = vec![0; routes.len()];
        for target in order {
            let lightest = (0..total).min_by_key(|&s| (load[s], s)).expect("at least one shard");
            load[lightest] += routes[target];
            shard_of[target] = lightest + 1;
        }
        shard_of
    }

    /// Keeps the targets of `plan` that fall in this shard (in the plan's order), and says
    /// which they were.
    pub fn select(self, mut plan: Plan) -> (Plan, ShardRun) {
        let routes: Vec<usize> = plan.targets.iter().map(|t| t.routes.len()).collect();
        let dealt = Shard::deal(&routes, self.total);
        let plan_targets = plan.targets.len();
        let mut positions = Vec::new();
        let mut kept = Vec::new();
        for (position, (target, shard)) in plan.targets.drain(..).zip(dealt).enumerate() {
            if shard == self.index {
                positions.push(position);
                kept.push(target);
            }
        }
        plan.targets = kept;
        let run = ShardRun { index: self.index, total: self.total, positions, plan_targets };
        (plan, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("1/1".parse::<Shard>(), Ok(Shard { index: 1, total: 1 }));
        assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, total: 4 }));
        assert_eq!("3/4".parse::<Shard>().unwrap().to_string(), "3/4");
        for bad in ["", "1", "1-4", "a/4", "1/b", "-1/4", "1/2/3"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("write K/N"), "{bad}: {err}");
        }
        assert!("0/4".parse::<Shard>().unwrap_err().contains("between 1 and 4"));
        assert!("5/4".parse::<Shard>().unwrap_err().contains("between 1 and 4"));
        assert!("1/0".parse::<Shard>().unwrap_err().contains("at least 1"));
    }

    #[test]
    fn deals_every_target_once_and_evenly() {
        for total in 1..=6 {
            for n in 0..12 {
                let routes: Vec<usize> = (0..n).map(|i| 1 + (i * 7) % 5).collect();
                let dealt = Shard::deal(&routes, total);
                assert_eq!(dealt.len(), n);
                assert!(dealt.iter().all(|&s| (1..=total).contains(&s)));
                let mut load = vec![0; total];
                for (t, &s) in dealt.iter().enumerate() {
                    load[s - 1] += routes[t];
                }
                // Greedy dealing, largest first: no shard exceeds another by more than the
                // largest target.
                let spread = load.iter().max().unwrap() - load.iter().min().unwrap();
                assert!(spread <= routes.iter().copied().max().unwrap_or(0), "{routes:?} {load:?}");
                assert_eq!(Shard::deal(&routes, total), dealt, "deterministic");
            }
        }
    }

    #[test]
    fn equal_targets_alternate_in_spec_order() {
        assert_eq!(Shard::deal(&[1, 1, 1, 1], 2), [1, 2, 1, 2]);
        assert_eq!(Shard::deal(&[2, 1, 1], 2), [1, 2, 2]);
        // More shards than targets: the last shards are empty.
        assert_eq!(Shard::deal(&[1, 1], 4), [1, 2]);
    }
}
