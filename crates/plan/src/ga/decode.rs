//! Decoding priority keys into justified schedules, in either time direction.
//!
//! The algorithm keeps two populations: left-justified schedules (built by a
//! forward serial pass) and right-justified ones (built backwards). A child is
//! always decoded in the direction opposite to its parents, so the single pass
//! that decodes it also justifies the parents' material — one schedule per child
//! (Debels & Vanhoucke's bi-population scheme).
//!
//! With constant capacity and no release slots, time can be mirrored: a
//! backward pass is a forward pass over the reversed precedence graph, and the
//! mirrored schedule stays feasible. With time-varying capacity mirroring is not
//! sound, so a right-justified child is made by a forward pass followed by a
//! right justification (two schedules).

use powerslot_core::Slot;

use crate::problem::Problem;
use crate::serial::SerialSgs;

/// Which population an individual belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// Left-justified (every task as early as its list position allows).
    Left,
    /// Right-justified (every task as late as the makespan allows).
    Right,
}

impl Side {
    pub(crate) fn other(self) -> Self {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// A schedule in real time with its makespan and a fingerprint for duplicate
/// detection.
#[derive(Clone, Debug)]
pub(crate) struct Individual {
    pub(crate) starts: Vec<Slot>,
    pub(crate) makespan: Slot,
    pub(crate) hash: u64,
}

impl Individual {
    pub(crate) fn new(starts: Vec<Slot>, makespan: Slot) -> Self {
        let hash = starts.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &s| {
            (h ^ u64::from(s)).wrapping_mul(0x0000_0100_0000_01B3)
        });
        Self {
            starts,
            makespan,
            hash,
        }
    }
}

/// Read-only data shared by every decoder of one run.
#[derive(Debug)]
pub(crate) struct Ctx<'a, 'i> {
    pub(crate) p: &'a Problem<'i>,
    /// The reversed problem when time can be mirrored.
    pub(crate) rev: Option<Problem<'i>>,
    /// Per task, its demand as a share of the resources (for peak detection).
    pub(crate) load: Vec<f64>,
}

impl<'a, 'i> Ctx<'a, 'i> {
    pub(crate) fn new(p: &'a Problem<'i>) -> Self {
        let mirror = p.instance.has_constant_capacity() && p.release.iter().all(|&r| r == 0);
        let rev = mirror.then(|| {
            let mut r = p.clone();
            std::mem::swap(&mut r.preds, &mut r.succs);
            r.topo.reverse();
            r
        });
        let load = p
            .demand
            .iter()
            .map(|d| {
                d.iter()
                    .map(|&(k, q)| q as f64 / p.capacity[k].max().max(1) as f64)
                    .sum()
            })
            .collect();
        Self { p, rev, load }
    }

    /// Schedules one child of `target` costs.
    pub(crate) fn cost(&self, target: Side) -> u64 {
        match (target, &self.rev) {
            (Side::Right, None) => 2,
            _ => 1,
        }
    }

    /// The priority keys that reproduce `ind` when decoding towards `target`:
    /// start slots in the frame (real or mirrored time) in which `target` is
    /// decoded forwards. Parents are aligned on the side they are justified
    /// to, as if their makespan were `anchor` (the father's), so that father
    /// and mother keys mean the same stretch of the schedule.
    pub(crate) fn frame_starts(
        &self,
        ind: &Individual,
        target: Side,
        anchor: Slot,
        out: &mut Vec<i64>,
    ) {
        out.clear();
        let d = &self.p.duration;
        let anchor = i64::from(anchor);
        match (target, &self.rev) {
            // Left-justified parents, decoded backwards: align their starts.
            (Side::Right, Some(_)) => {
                out.extend((0..self.p.n).map(|j| anchor - i64::from(ind.starts[j] + d[j])))
            }
            (Side::Right, None) => out.extend(ind.starts.iter().map(|&s| i64::from(s))),
            // Right-justified parents, decoded forwards: align their ends.
            (Side::Left, _) => {
                let shift = anchor - i64::from(ind.makespan);
                out.extend(ind.starts.iter().map(|&s| i64::from(s) + shift));
            }
        }
    }

    /// The problem a forward pass towards `target` runs on.
    pub(crate) fn frame_problem(&self, target: Side) -> &Problem<'i> {
        match (target, &self.rev) {
            (Side::Right, Some(r)) => r,
            _ => self.p,
        }
    }
}

/// Per-worker buffers.
#[derive(Debug)]
pub(crate) struct Decoder {
    fwd: SerialSgs,
    bwd: Option<SerialSgs>,
    list: Vec<usize>,
    missing: Vec<usize>,
    eligible: Vec<usize>,
}

impl Decoder {
    pub(crate) fn new(ctx: &Ctx<'_, '_>) -> Self {
        Self {
            fwd: SerialSgs::new(ctx.p),
            bwd: ctx.rev.as_ref().map(SerialSgs::new),
            list: Vec::with_capacity(ctx.p.n),
            missing: Vec::with_capacity(ctx.p.n),
            eligible: Vec::with_capacity(ctx.p.n),
        }
    }

    /// Decodes `keys` (smaller first, among tasks whose predecessors in the frame
    /// are listed) into a schedule justified towards `target`.
    pub(crate) fn decode(&mut self, ctx: &Ctx<'_, '_>, keys: &[i64], target: Side) -> Individual {
        let fp = ctx.frame_problem(target);
        self.list_by_keys(fp, keys);
        self.decode_list(ctx, target)
    }

    /// Decodes the precedence-feasible list in the frame of `target` held in
    /// `self.list`.
    fn decode_list(&mut self, ctx: &Ctx<'_, '_>, target: Side) -> Individual {
        let p = ctx.p;
        match (target, &ctx.rev, &mut self.bwd) {
            (Side::Left, _, _) => {
                let m = self.fwd.forward(p, &self.list);
                Individual::new(self.fwd.starts.clone(), m)
            }
            (Side::Right, Some(rp), Some(bwd)) => {
                let m = bwd.forward(rp, &self.list);
                let starts = (0..p.n)
                    .map(|j| m - bwd.starts[j] - p.duration[j])
                    .collect();
                Individual::new(starts, m)
            }
            _ => {
                self.fwd.forward(p, &self.list);
                let m = self.fwd.justify_right(p);
                Individual::new(self.fwd.starts.clone(), m)
            }
        }
    }

    /// Decodes an explicit list (precedence-feasible in the frame of `target`).
    pub(crate) fn decode_given(
        &mut self,
        ctx: &Ctx<'_, '_>,
        list: &[usize],
        target: Side,
    ) -> Individual {
        self.list.clear();
        self.list.extend_from_slice(list);
        self.decode_list(ctx, target)
    }

    /// Fills `self.list` with the eligible task of smallest key, repeatedly
    /// (ties by index), so any keys give a precedence-feasible list.
    fn list_by_keys(&mut self, fp: &Problem<'_>, keys: &[i64]) {
        self.missing.clear();
        self.missing.extend(fp.preds.iter().map(Vec::len));
        self.eligible.clear();
        self.eligible
            .extend((0..fp.n).filter(|&j| fp.preds[j].is_empty()));
        self.list.clear();
        while !self.eligible.is_empty() {
            let mut best = 0;
            let mut bk = (keys[self.eligible[0]], self.eligible[0]);
            for (i, &j) in self.eligible.iter().enumerate().skip(1) {
                let k = (keys[j], j);
                if k < bk {
                    bk = k;
                    best = i;
                }
            }
            let j = self.eligible.swap_remove(best);
            self.list.push(j);
            for &s in &fp.succs[j] {
                self.missing[s] -= 1;
                if self.missing[s] == 0 {
                    self.eligible.push(s);
                }
            }
        }
    }
}
