//! Benchmark bookkeeping: one planner result per instance, compared with
//! reference bounds (e.g. PSPLIB's best-known makespans), summarised per set in
//! the measures of the RCPSP literature.

use std::collections::BTreeMap;

use powerslot_core::Slot;
use serde::Serialize;

/// Published bounds of one benchmark instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// Set name, e.g. `j120`.
    pub set: String,
    /// Critical-path length.
    pub cpm: Slot,
    /// Best known lower bound.
    pub lb: Slot,
    /// Best known makespan (upper bound).
    pub ub: Slot,
    /// Whether `lb == ub`, i.e. the optimum is known.
    pub closed: bool,
}

/// A planner's result on one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceResult {
    /// Instance name (file stem).
    pub instance: String,
    /// Set name.
    pub set: String,
    /// The makespan found.
    pub makespan: Slot,
    /// Our lower bound.
    pub lower_bound: Slot,
    /// Our critical-path bound.
    pub critical_path: Slot,
    /// Complete schedules generated.
    pub schedules: u64,
    /// Seconds spent on this instance.
    pub elapsed_s: f64,
    /// Published bounds, if known.
    pub reference: Option<Reference>,
}

impl InstanceResult {
    /// Critical-path length (the reference's if given).
    pub fn cpm(&self) -> Slot {
        self.reference
            .as_ref()
            .map_or(self.critical_path, |r| r.cpm)
    }

    /// Deviation from the critical-path bound, in percent.
    pub fn dev_cp_pct(&self) -> f64 {
        pct(self.makespan, self.cpm())
    }

    /// Deviation from the best-known makespan, in percent.
    pub fn dev_ub_pct(&self) -> Option<f64> {
        self.reference.as_ref().map(|r| pct(self.makespan, r.ub))
    }

    /// Whether the makespan is proven optimal: it meets our lower bound or the
    /// published one.
    pub fn proven_optimal(&self) -> bool {
        self.makespan <= self.lower_bound
            || self
                .reference
                .as_ref()
                .is_some_and(|r| self.makespan <= r.lb)
    }
}

fn pct(value: Slot, base: Slot) -> f64 {
    if base == 0 {
        0.0
    } else {
        100.0 * (f64::from(value) - f64::from(base)) / f64::from(base)
    }
}

/// The measures of one set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SetSummary {
    /// Set name.
    pub set: String,
    /// Number of instances.
    pub instances: usize,
    /// Average deviation from the critical-path bound, percent.
    pub dev_cp_pct: f64,
    /// Average deviation from the best-known makespan, percent (instances with a reference).
    pub dev_ub_pct: Option<f64>,
    /// Instances whose makespan equals (or beats) the best known.
    pub equal_best_known: usize,
    /// Instances proven optimal.
    pub proven_optimal: usize,
    /// Average deviation of the best-known makespans from the critical path,
    /// percent: the floor of `dev_cp_pct` for any planner.
    pub floor_cp_pct: Option<f64>,
    /// Total schedules generated.
    pub schedules: u64,
    /// Sum of per-instance times, seconds (CPU time when each solve is single-threaded).
    pub solve_s: f64,
}

impl SetSummary {
    /// Schedules per second of solve time (per core for single-threaded solves).
    pub fn schedules_per_s(&self) -> f64 {
        if self.solve_s > 0.0 {
            self.schedules as f64 / self.solve_s
        } else {
            0.0
        }
    }
}

/// Summaries per set, sets in name order.
pub fn summarise(results: &[InstanceResult]) -> Vec<SetSummary> {
    let mut sets: BTreeMap<&str, Vec<&InstanceResult>> = BTreeMap::new();
    for r in results {
        sets.entry(&r.set).or_default().push(r);
    }
    sets.into_iter()
        .map(|(set, rs)| {
            let n = rs.len() as f64;
            let with_ref: Vec<&&InstanceResult> =
                rs.iter().filter(|r| r.reference.is_some()).collect();
            let mean =
                |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            SetSummary {
                set: set.to_string(),
                instances: rs.len(),
                dev_cp_pct: rs.iter().map(|r| r.dev_cp_pct()).sum::<f64>() / n,
                dev_ub_pct: mean(with_ref.iter().filter_map(|r| r.dev_ub_pct()).collect()),
                equal_best_known: with_ref
                    .iter()
                    .filter(|r| r.reference.as_ref().is_some_and(|x| r.makespan <= x.ub))
                    .count(),
                proven_optimal: rs.iter().filter(|r| r.proven_optimal()).count(),
                floor_cp_pct: mean(
                    with_ref
                        .iter()
                        .filter_map(|r| r.reference.as_ref().map(|x| pct(x.ub, x.cpm)))
                        .collect(),
                ),
                schedules: rs.iter().map(|r| r.schedules).sum(),
                solve_s: rs.iter().map(|r| r.elapsed_s).sum(),
            }
        })
        .collect()
}

/// The PSPLIB set an instance name belongs to (`j1201_1` → `j120`), if any.
pub fn psplib_set(name: &str) -> Option<&'static str> {
    ["j120", "j30", "j60", "j90"]
        .into_iter()
        .find(|s| name.starts_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        set: &str,
        makespan: Slot,
        lb: Slot,
        reference: Option<(Slot, Slot, Slot)>,
    ) -> InstanceResult {
        InstanceResult {
            instance: format!("{set}1_1"),
            set: set.into(),
            makespan,
            lower_bound: lb,
            critical_path: 40,
            schedules: 100,
            elapsed_s: 0.5,
            reference: reference.map(|(cpm, lb, ub)| Reference {
                set: set.into(),
                cpm,
                lb,
                ub,
                closed: lb == ub,
            }),
        }
    }

    #[test]
    fn summary_averages_and_counts_per_set() {
        let rs = vec![
            result("j30", 50, 45, Some((40, 50, 50))),
            result("j30", 44, 44, Some((40, 42, 42))),
            result("j120", 60, 41, None),
        ];
        let s = summarise(&rs);
        assert_eq!(s.len(), 2);
        let j30 = &s[1];
        assert_eq!(j30.set, "j30");
        assert!((j30.dev_cp_pct - 17.5).abs() < 1e-9);
        assert!((j30.dev_ub_pct.unwrap() - (100.0 * 2.0 / 42.0) / 2.0).abs() < 1e-9);
        assert_eq!((j30.equal_best_known, j30.proven_optimal), (1, 2));
        assert!((j30.floor_cp_pct.unwrap() - 15.0).abs() < 1e-9);
        assert_eq!(j30.schedules_per_s(), 200.0);
        assert_eq!(s[0].dev_ub_pct, None);
        assert_eq!(psplib_set("j1201_1"), Some("j120"));
        assert_eq!(psplib_set("j3010_2"), Some("j30"));
    }
}
