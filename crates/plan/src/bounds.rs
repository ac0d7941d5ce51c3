//! Lower bounds on the optimal makespan, valid with capacity that changes slot
//! by slot.
//!
//! * **Critical path** — the longest precedence chain of durations, releases
//!   included.
//! * **Resource (energy)** — every resource must carry `Σ d_j·q_jk` units·slots.
//!   With constant capacity `C_k` this is `⌈Σ d_j·q_jk / usable(C_k)⌉`; with
//!   varying capacity it is the smallest `T` whose usable capacity area over
//!   `[0, T)` reaches the total energy. A slot's *usable* capacity counts only
//!   what the tasks can actually draw together: the largest sum of distinct
//!   demands that fits in it (exact subset sums when capacities are small, as in
//!   PSPLIB), or `min(capacity, Σ demands)` for large (milliwatt) values, and 0
//!   where the capacity is below every demand.
//! * **Cumulative** — combines heads, tails and energy. A task's *head* is the
//!   earliest slot it can start in: after its predecessors' heads plus durations,
//!   at or after its release, and where it fits alone for its whole duration. Its
//!   *tail* is the longest chain of durations after it. For every head value `a`
//!   and tail value `b`, the tasks with head ≥ `a` and tail ≥ `b` run inside
//!   `[a, T − b)`, so their energy must fit there: `T ≥ b + end(a, E)` with
//!   `end(a, E)` the first slot by which the usable area from `a` reaches `E`.
//!   Also `T ≥ head_j + d_j + tail_j` for every task.

use powerslot_core::limits::horizon_for;
use powerslot_core::{CapacityProfile, Slot};

use crate::problem::Problem;

/// Lower bounds on the optimal makespan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Longest precedence chain (releases included).
    pub critical_path: Slot,
    /// Resource (energy) bound.
    pub resource: Slot,
    /// Cumulative bound for time-varying capacity.
    pub cumulative: Slot,
}

impl Bounds {
    /// The strongest of the bounds.
    pub fn best(&self) -> Slot {
        self.critical_path.max(self.resource).max(self.cumulative)
    }
}

/// Largest capacity for which usable amounts come from exact subset sums.
const SUBSET_SUM_LIMIT: i64 = 1 << 16;
/// Largest number of tasks for which every (head, tail) pair is tried; above it
/// only heads and only tails are combined with energy.
const PAIR_LIMIT: usize = 400;

/// Computes every bound.
pub fn compute(p: &Problem<'_>) -> Bounds {
    if p.n == 0 {
        return Bounds::default();
    }
    let critical_path = p.makespan(&p.earliest_starts());
    let heads = fit_heads(p);
    let tails = p.tails();
    let after: Vec<Slot> = (0..p.n).map(|j| tails[j] - p.duration[j]).collect();
    let mut resource = 0;
    let mut cumulative = (0..p.n).map(|j| heads[j] + tails[j]).max().unwrap_or(0);
    for k in 0..p.m {
        let demand: Vec<i64> = (0..p.n).map(|j| demand_on(p, j, k)).collect();
        if demand.iter().all(|&q| q == 0) {
            continue;
        }
        // Energies in i128: amount × slots × tasks can pass an i64.
        let energy: Vec<i128> = (0..p.n)
            .map(|j| i128::from(demand[j]) * i128::from(p.duration[j]))
            .collect();
        let mut area = UsableArea::new(&p.capacity[k], &demand, horizon_for(p.m));
        resource = resource.max(area.end(0, energy.iter().sum()));
        cumulative = cumulative.max(head_tail_energy(&mut area, &heads, &after, &energy));
    }
    Bounds {
        critical_path,
        resource,
        cumulative,
    }
}

fn demand_on(p: &Problem<'_>, j: usize, k: usize) -> i64 {
    p.demand[j]
        .iter()
        .find(|(r, _)| *r == k)
        .map_or(0, |&(_, q)| q)
}

/// The best of `b + end(a, E(a, b))` over head values `a` and tail values `b`.
fn head_tail_energy(
    area: &mut UsableArea,
    heads: &[Slot],
    after: &[Slot],
    energy: &[i128],
) -> Slot {
    let n = heads.len();
    let mut by_head: Vec<usize> = (0..n).collect();
    by_head.sort_unstable_by_key(|&j| std::cmp::Reverse(heads[j]));
    let mut best = 0;
    let mut e = 0;
    // Heads alone (b = 0): tasks are added in order of decreasing head.
    for (i, &j) in by_head.iter().enumerate() {
        e += energy[j];
        if i + 1 == n || heads[by_head[i + 1]] != heads[j] {
            best = best.max(area.end(heads[j], e));
        }
    }
    // Tails alone (a = 0).
    let mut by_tail: Vec<usize> = (0..n).collect();
    by_tail.sort_unstable_by_key(|&j| std::cmp::Reverse(after[j]));
    let mut e = 0;
    for (i, &j) in by_tail.iter().enumerate() {
        e += energy[j];
        if i + 1 == n || after[by_tail[i + 1]] != after[j] {
            best = best.max(after[j] + area.end(0, e));
        }
    }
    if n > PAIR_LIMIT {
        return best;
    }
    // Every pair: for each head value, the tasks at or after it by decreasing tail.
    let mut set: Vec<usize> = Vec::with_capacity(n);
    for (i, &j) in by_head.iter().enumerate() {
        set.push(j);
        if i + 1 < n && heads[by_head[i + 1]] == heads[j] {
            continue;
        }
        let a = heads[j];
        set.sort_unstable_by_key(|&t| std::cmp::Reverse(after[t]));
        let mut e = 0;
        for (x, &t) in set.iter().enumerate() {
            e += energy[t];
            if x + 1 == set.len() || after[set[x + 1]] != after[t] {
                best = best.max(after[t] + area.end(a, e));
            }
        }
    }
    best
}

/// Earliest start of each task: after its predecessors' heads plus durations,
/// not before its release, and where it fits alone for its whole duration.
pub fn fit_heads(p: &Problem<'_>) -> Vec<Slot> {
    let mut head = vec![0; p.n];
    for &j in &p.topo {
        let ready = p.preds[j]
            .iter()
            .map(|&q| head[q] + p.duration[q])
            .max()
            .unwrap_or(0)
            .max(p.release[j]);
        head[j] = fits_alone_from(p, j, ready).unwrap_or(ready);
    }
    head
}

/// Only slots within the horizon count: a task that cannot fit alone before it
/// cannot be in any schedule the planners accept.
fn fits_alone_from(p: &Problem<'_>, j: usize, from: Slot) -> Option<Slot> {
    let d = p.duration[j] as usize;
    let mut run = 0;
    for s in from as usize..horizon_for(p.m) as usize {
        let ok = p.demand[j]
            .iter()
            .all(|&(k, q)| p.capacity[k].at(s as Slot) >= q);
        run = if ok { run + 1 } else { 0 };
        if run == d {
            return Some((s + 1 - d) as Slot);
        }
    }
    None
}

/// Prefix sums of one resource's usable capacity, extended on demand up to the
/// horizon limit (any bound that reaches it is valid: no schedule may end later).
struct UsableArea<'c> {
    capacity: &'c CapacityProfile,
    /// `best_le[c]`: the largest sum of distinct demands not above `c`.
    best_le: Option<Vec<i64>>,
    min_demand: i64,
    total_demand: i64,
    /// `prefix[t]` = usable area of slots `0..t` (i128: amount × slots can pass an i64).
    prefix: Vec<i128>,
    limit: usize,
}

impl<'c> UsableArea<'c> {
    fn new(capacity: &'c CapacityProfile, demand: &[i64], limit: Slot) -> Self {
        let positive: Vec<i64> = demand.iter().copied().filter(|&q| q > 0).collect();
        let cmax = capacity.max();
        let best_le = (cmax <= SUBSET_SUM_LIMIT).then(|| subset_sums(&positive, cmax as usize));
        Self {
            capacity,
            best_le,
            min_demand: positive.iter().copied().min().unwrap_or(0),
            total_demand: positive.iter().fold(0i64, |a, &q| a.saturating_add(q)),
            prefix: vec![0],
            limit: limit as usize,
        }
    }

    fn usable(&self, slot: Slot) -> i64 {
        let c = self.capacity.at(slot);
        if c < self.min_demand {
            return 0;
        }
        match &self.best_le {
            Some(best) => best[c as usize],
            None => c.min(self.total_demand),
        }
    }

    /// The smallest `t ≥ a` whose usable area over `[a, t)` reaches `energy`, or the
    /// horizon limit.
    fn end(&mut self, a: Slot, energy: i128) -> Slot {
        let a = (a as usize).min(self.limit);
        while self.prefix.len() <= a {
            self.push();
        }
        let target = self.prefix[a] + energy;
        while *self.prefix.last().expect("never empty") < target && self.prefix.len() <= self.limit
        {
            self.push();
        }
        let t = self.prefix.partition_point(|&u| u < target);
        t.min(self.limit) as Slot
    }

    fn push(&mut self) {
        let s = self.prefix.len() - 1;
        let u = self.usable(s as Slot);
        self.prefix.push(self.prefix[s] + i128::from(u));
    }
}

/// `best[c]` for `c` in `0..=cmax`: the largest sum of distinct demands not above
/// `c`. Reachable sums are a bit set shifted by each demand, 64 sums per word.
fn subset_sums(demands: &[i64], cmax: usize) -> Vec<i64> {
    let words = (cmax + 1).div_ceil(64);
    let mut reach = vec![0u64; words];
    reach[0] = 1;
    for &q in demands {
        let q = q as usize;
        if q > cmax {
            continue;
        }
        let (shift_words, shift_bits) = (q / 64, q % 64);
        // Highest word first, so each demand is used at most once.
        for w in (shift_words..words).rev() {
            let src = w - shift_words;
            let mut v = reach[src] << shift_bits;
            if shift_bits > 0 && src > 0 {
                v |= reach[src - 1] >> (64 - shift_bits);
            }
            reach[w] |= v;
        }
    }
    let mut best = vec![0i64; cmax + 1];
    for c in 1..=cmax {
        let reachable = reach[c / 64] >> (c % 64) & 1 == 1;
        best[c] = if reachable { c as i64 } else { best[c - 1] };
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use powerslot_core::{Instance, InstanceSpec, Resource, ResourceUnit, Tail, Task, TaskId};

    fn inst(cap: CapacityProfile, tasks: &[(u32, i64, Vec<usize>, Slot)]) -> Instance {
        Instance::new(InstanceSpec {
            name: "b".into(),
            resources: vec![Resource {
                name: "R1".into(),
                unit: ResourceUnit::Units,
                capacity: cap,
            }],
            tasks: tasks
                .iter()
                .enumerate()
                .map(|(i, (d, q, preds, rel))| Task {
                    id: TaskId::Number(i as u32 + 1),
                    duration: *d,
                    demand: vec![*q],
                    predecessors: preds.clone(),
                    release: *rel,
                    deadline: None,
                })
                .collect(),
            grid: None,
            power_curves: None,
        })
        .unwrap()
    }

    #[test]
    fn subset_sums_match_the_definition() {
        let best = subset_sums(&[3, 5, 70, 64], 140);
        // Reachable: 0 3 5 8 64 67 69 70 72 73 75 78 134 137 139 142...
        assert_eq!(
            (best[2], best[4], best[9], best[66], best[71], best[140]),
            (0, 3, 8, 64, 70, 139)
        );
        let slow = |c: i64| {
            let d = [3i64, 5, 70, 64];
            (0..16u32)
                .map(|m| {
                    (0..4)
                        .filter(|i| m >> i & 1 == 1)
                        .map(|i| d[i])
                        .sum::<i64>()
                })
                .filter(|&x| x <= c)
                .max()
                .unwrap()
        };
        for c in 0..=140 {
            assert_eq!(best[c as usize], slow(c), "{c}");
        }
    }

    #[test]
    fn energy_bound_with_constant_capacity_and_unusable_remainders() {
        // Capacity 5, three tasks of demand 3 for 2 slots: only 3 of the 5 units
        // are ever usable together, so 18 units·slots need 6 slots, not ⌈18/5⌉ = 4.
        let i = inst(
            CapacityProfile::constant(5).unwrap(),
            &[(2, 3, vec![], 0), (2, 3, vec![], 0), (2, 3, vec![], 0)],
        );
        let b = compute(&Problem::new(&i));
        assert_eq!(b.critical_path, 2);
        assert_eq!(b.resource, 6);
        assert_eq!(b.best(), 6);
    }

    #[test]
    fn varying_capacity_counts_only_usable_slots() {
        // Capacity 4 in even slots, 1 in odd ones; two tasks of 2 units × 1 slot
        // and one of 4 × 1: odd slots carry nothing (1 < 2), even slots 4.
        let cap = CapacityProfile::new(vec![4, 1], Tail::Repeat).unwrap();
        let i = inst(
            cap,
            &[(1, 2, vec![], 0), (1, 2, vec![], 0), (1, 4, vec![], 0)],
        );
        let b = compute(&Problem::new(&i));
        // 8 units·slots: slots 0 and 2 give 4 each, so T ≥ 3.
        assert_eq!(b.resource, 3);
    }

    #[test]
    fn cumulative_uses_heads_and_fits() {
        // Task 2 is released at slot 4 and only fits where capacity is 3 (from slot 6).
        let cap = CapacityProfile::new(vec![2, 2, 2, 2, 2, 2, 3], Tail::Hold).unwrap();
        let i = inst(
            cap,
            &[(2, 2, vec![], 0), (3, 3, vec![], 4), (1, 1, vec![1], 0)],
        );
        let p = Problem::new(&i);
        assert_eq!(fit_heads(&p), vec![0, 6, 9]);
        let b = compute(&p);
        assert_eq!(b.critical_path, 8);
        assert_eq!(b.cumulative, 10);
    }
}
