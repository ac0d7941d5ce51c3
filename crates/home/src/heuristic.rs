//! The project's own planner for days too large for the exact search: round, improve, complete.
//!
//! 1. **Round** the LP relaxation: a one-block load starts where its start mass is largest, an
//!    interruptible load takes its steps of largest on-value (a load with min on / min off /
//!    start rules takes its best single run, which meets them all).
//! 2. **Improve** by local search on the on/off loads against a fixed *background* (base load,
//!    PV, battery and modulating loads): move a block to its best start, move one on-step of an
//!    interruptible load to a better step. The score is the objective plus a large penalty per
//!    watt over a grid limit or a group's budget and per broken exclusion or precedence.
//! 3. **Complete** with the LP: on/off decisions fixed, the battery and the modulating loads
//!    re-optimised around them, which gives a new background; repeat 2–3 while it pays.
//!
//! When no arrangement fits, loads are dropped one by one — the lowest priority first, among
//! equals the one drawing most in the steps over the limit — until the day fits; the caller
//! reports them.

use std::time::Instant;

use crate::Solver;
use crate::check::{Plan, TOL_W, figures, violations};
use crate::day::{Day, Kind};
use crate::error::HomeError;
use crate::milp::{self, Build, Decision, Solved, TIE_BREAK};
use crate::objective::Objective;

/// Score of one watt over a limit (per step): far above any bill difference.
const OVER: f64 = 1e3;

/// A plan found by the heuristic, with the decisions behind it.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) plan: Plan,
    pub(crate) decisions: Vec<Decision>,
    pub(crate) dropped: Vec<usize>,
    pub(crate) objective: f64,
}

/// How the local search sees one on/off load.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// One run of `steps` (blocks, and interruptible loads with run rules).
    Run { power_w: f64, steps: usize },
    /// `steps` steps anywhere in the window.
    Free { power_w: f64, steps: usize },
    /// Modulating: left to the LP, part of the background.
    Lp,
}

fn shape(day: &Day, k: usize) -> Shape {
    let l = &day.loads[k];
    match l.kind() {
        Kind::Block { power_w, steps } => Shape::Run { power_w, steps },
        Kind::Steps {
            power_w,
            steps,
            min_on,
            min_off,
        } => {
            if l.max_starts > 0 || min_on > 1 || min_off > 0 || l.startup_penalty > 0.0 {
                Shape::Run { power_w, steps }
            } else {
                Shape::Free { power_w, steps }
            }
        }
        Kind::Energy { .. } => Shape::Lp,
    }
}

struct Search<'a> {
    day: &'a Day,
    objective: Objective,
    shapes: Vec<Shape>,
    /// Power per step of everything but the on/off loads, W (+ = drawn from the grid).
    background: Vec<f64>,
    on: Vec<Vec<bool>>,
    served: Vec<bool>,
}

impl Search<'_> {
    fn total(&self) -> Vec<f64> {
        let mut tot = self.background.clone();
        for (k, s) in self.shapes.iter().enumerate() {
            if let Shape::Run { power_w, .. } | Shape::Free { power_w, .. } = *s {
                for (t, on) in self.on[k].iter().enumerate() {
                    if *on {
                        tot[t] += power_w;
                    }
                }
            }
        }
        tot
    }

    /// The objective (with the bill as tie-break) plus penalties, of grid exchange `tot`.
    fn grid_score(&self, tot: &[f64]) -> f64 {
        let d = self.day;
        let h = d.step_h() / 1000.0;
        let (mut bill, mut imp, mut peak, mut over) = (0.0, 0.0, 0.0f64, 0.0);
        for (t, &x) in tot.iter().enumerate() {
            if x > 0.0 {
                bill += x * d.import_price[t] * h;
                imp += x * h;
                peak = peak.max(x);
                over += (x - d.grid_import_limit_w[t]).max(0.0);
            } else {
                bill += x * d.export_price[t] * h;
                over += (-x - d.grid_export_limit_w[t]).max(0.0);
            }
        }
        let main = match self.objective {
            Objective::Cost => bill,
            Objective::Import => imp + TIE_BREAK * bill,
            Objective::Peak => peak / 1000.0 + TIE_BREAK * bill,
            Objective::Makespan => {
                let end = self
                    .on
                    .iter()
                    .filter_map(|o| o.iter().rposition(|x| *x))
                    .max();
                end.map_or(0.0, |e| (e + 1) as f64) + TIE_BREAK * bill
            }
        };
        main + OVER * over
    }

    /// Penalty of the rules load `k` shares with others (group budgets, exclusion, precedence)
    /// and the cost of its own soft deadline.
    fn shared_penalty(&self, k: usize) -> f64 {
        let d = self.day;
        let mut pen = 0.0;
        let power = |j: usize, t: usize| match self.shapes[j] {
            Shape::Run { power_w, .. } | Shape::Free { power_w, .. } if self.on[j][t] => power_w,
            _ => 0.0,
        };
        for g in d.groups.iter().filter(|g| g.loads.contains(&k)) {
            for t in 0..d.n_steps {
                if let Some(m) = g.max_power_w {
                    let s: f64 = g.loads.iter().map(|&j| power(j, t)).sum();
                    pen += OVER * (s - m).max(0.0);
                }
                if g.mutual_exclusion {
                    let c = g.loads.iter().filter(|&&j| power(j, t) > 0.0).count();
                    pen += OVER * 1000.0 * c.saturating_sub(1) as f64;
                }
            }
        }
        let first = |j: usize| self.on[j].iter().position(|x| *x);
        let last = |j: usize| self.on[j].iter().rposition(|x| *x).map(|t| t + 1);
        let mut pairs: Vec<(usize, usize)> = d.loads[k].after.iter().map(|&a| (a, k)).collect();
        pairs.extend(
            (0..d.loads.len())
                .filter(|&j| d.loads[j].after.contains(&k))
                .map(|j| (k, j)),
        );
        for (a, b) in pairs {
            if let (Some(end), Some(start)) = (last(a), first(b)) {
                pen += OVER * 1000.0 * end.saturating_sub(start) as f64;
            }
        }
        // Its soft deadline (a cost, not a rule; modulating loads leave it to the LP).
        if let (Some(due), Some(end)) = (d.loads[k].due, last(k))
            && !matches!(self.shapes[k], Shape::Lp)
        {
            pen += due.cost_per_step * end.saturating_sub(due.step) as f64;
        }
        pen
    }

    /// The whole arrangement's score: objective and every penalty.
    fn score(&self) -> f64 {
        self.grid_score(&self.total())
            + (0..self.shapes.len())
                .map(|k| self.shared_penalty(k))
                .sum::<f64>()
    }

    /// Candidate on-vectors of load `k`.
    fn candidates(&self, k: usize) -> Vec<Vec<bool>> {
        let w = self.day.loads[k].window.clone();
        let n = self.day.n_steps;
        match self.shapes[k] {
            Shape::Run { steps, .. } => (w.start..=w.end - steps)
                .map(|s| (0..n).map(|t| t >= s && t < s + steps).collect())
                .collect(),
            Shape::Free { .. } => {
                let cur = &self.on[k];
                let mut out = Vec::new();
                for i in w.clone().filter(|&i| cur[i]) {
                    for j in w.clone().filter(|&j| !cur[j]) {
                        let mut v = cur.clone();
                        v[i] = false;
                        v[j] = true;
                        out.push(v);
                    }
                }
                out
            }
            Shape::Lp => Vec::new(),
        }
    }

    /// Local search until no move improves or time is up.
    fn improve(&mut self, deadline: Instant) {
        let mut tot = self.total();
        let mut score = self.grid_score(&tot);
        loop {
            let mut improved = false;
            for k in 0..self.shapes.len() {
                let (Shape::Run { power_w, .. } | Shape::Free { power_w, .. }) = self.shapes[k]
                else {
                    continue;
                };
                if !self.served[k] || Instant::now() > deadline {
                    continue;
                }
                let old = self.on[k].clone();
                let here = score + self.shared_penalty(k);
                let mut best: Option<(f64, Vec<bool>)> = None;
                for cand in self.candidates(k) {
                    for t in 0..tot.len() {
                        tot[t] +=
                            power_w * (f64::from(u8::from(cand[t])) - f64::from(u8::from(old[t])));
                    }
                    self.on[k] = cand;
                    let s = self.grid_score(&tot) + self.shared_penalty(k);
                    let cand = std::mem::replace(&mut self.on[k], old.clone());
                    for t in 0..tot.len() {
                        tot[t] -=
                            power_w * (f64::from(u8::from(cand[t])) - f64::from(u8::from(old[t])));
                    }
                    if s < here - 1e-9 && best.as_ref().is_none_or(|b| s < b.0) {
                        best = Some((s, cand));
                    }
                }
                if let Some((_, cand)) = best {
                    self.on[k] = cand;
                    tot = self.total();
                    score = self.grid_score(&tot);
                    improved = true;
                }
            }
            if !improved || Instant::now() > deadline {
                return;
            }
        }
    }

    /// Places the on/off loads one by one, tightest window first, each where it scores best
    /// beside those already placed: a packing that respects the limits where rounding the
    /// relaxation does not.
    fn construct(&mut self, round: u64) {
        let d = self.day;
        let mut order: Vec<usize> = (0..self.shapes.len())
            .filter(|&k| self.served[k] && !matches!(self.shapes[k], Shape::Lp))
            .collect();
        // Round 0 is the plain order; later rounds shake it (a fixed hash: deterministic).
        let jitter = |k: usize| {
            let x = (round.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ (k as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9))
            .wrapping_mul(0x94d0_49bb_1331_11eb);
            if round == 0 {
                1.0
            } else {
                1.0 + (x >> 40) as f64 / (1u64 << 24) as f64
            }
        };
        let slack = |k: usize| {
            (d.loads[k].window.len() as f64 - d.loads[k].energy_wh(1.0) / d.loads[k].max_power_w()
                + 1.0)
                * jitter(k)
        };
        order.sort_by(|&a, &b| {
            slack(a).total_cmp(&slack(b)).then(
                d.loads[b]
                    .max_power_w()
                    .total_cmp(&d.loads[a].max_power_w()),
            )
        });
        for &k in &order {
            self.on[k] = vec![false; d.n_steps];
        }
        for &k in &order {
            match self.shapes[k] {
                Shape::Run { .. } => {
                    let best = self
                        .candidates(k)
                        .into_iter()
                        .map(|c| {
                            self.on[k] = c;
                            let s = self.grid_score(&self.total()) + self.shared_penalty(k);
                            (s, std::mem::take(&mut self.on[k]))
                        })
                        .min_by(|a, b| a.0.total_cmp(&b.0));
                    self.on[k] = best.map_or_else(|| vec![false; d.n_steps], |b| b.1);
                }
                Shape::Free { steps, .. } => {
                    for _ in 0..steps {
                        let mut pick: Option<(f64, usize)> = None;
                        for t in d.loads[k].window.clone() {
                            if self.on[k][t] {
                                continue;
                            }
                            self.on[k][t] = true;
                            let s = self.grid_score(&self.total()) + self.shared_penalty(k);
                            self.on[k][t] = false;
                            if pick.is_none_or(|p| s < p.0) {
                                pick = Some((s, t));
                            }
                        }
                        if let Some((_, t)) = pick {
                            self.on[k][t] = true;
                        }
                    }
                }
                Shape::Lp => {}
            }
        }
    }

    fn decisions(&self) -> Vec<Decision> {
        (0..self.shapes.len())
            .map(|k| Decision {
                on: match self.shapes[k] {
                    Shape::Lp => Vec::new(),
                    _ => self.on[k].clone(),
                },
                served: self.served[k],
            })
            .collect()
    }

    /// Steps over the import or export limit with the current arrangement.
    fn over_steps(&self) -> Vec<usize> {
        let d = self.day;
        let tot = self.total();
        (0..d.n_steps)
            .filter(|&t| {
                tot[t] > d.grid_import_limit_w[t] + 1e-6
                    || -tot[t] > d.grid_export_limit_w[t] + 1e-6
            })
            .collect()
    }
}

/// Rounds fractional on-values into an on-vector of the load's shape.
fn round(day: &Day, k: usize, shape: Shape, vals: &[f64]) -> Vec<bool> {
    let n = day.n_steps;
    let w = day.loads[k].window.clone();
    match shape {
        Shape::Run { steps, .. } => {
            // A block's values are per start, a run-rule load's per step.
            let block = matches!(day.loads[k].kind(), Kind::Block { .. });
            let score = |s: usize| {
                if block {
                    vals[s]
                } else {
                    vals[s..s + steps].iter().sum::<f64>()
                }
            };
            let s = (w.start..=w.end - steps)
                .max_by(|a, b| score(*a).total_cmp(&score(*b)).then(b.cmp(a)))
                .unwrap_or(w.start);
            (0..n).map(|t| t >= s && t < s + steps).collect()
        }
        Shape::Free { steps, .. } => {
            let mut idx: Vec<usize> = w.collect();
            idx.sort_by(|a, b| vals[*b].total_cmp(&vals[*a]).then(a.cmp(b)));
            let mut on = vec![false; n];
            for &t in idx.iter().take(steps) {
                on[t] = true;
            }
            on
        }
        Shape::Lp => vec![false; n],
    }
}

/// Background of a solved plan: everything but the on/off loads, W.
fn background(day: &Day, shapes: &[Shape], plan: Option<&Plan>) -> Vec<f64> {
    (0..day.n_steps)
        .map(|t| {
            let mut x = day.base_load_w[t] - day.pv_w[t];
            if let Some(p) = plan {
                x -= p.battery_w.get(t).copied().unwrap_or(0.0);
                for (k, s) in shapes.iter().enumerate() {
                    if let Shape::Lp = s {
                        x += p.loads[k].1[t];
                    }
                }
            } else {
                // No relaxation to start from: modulating loads spread evenly over their window.
                for (k, s) in shapes.iter().enumerate() {
                    let l = &day.loads[k];
                    if matches!(s, Shape::Lp) && l.window.contains(&t) {
                        x += l.energy_wh(day.step_h()) / day.step_h() / l.window.len() as f64;
                    }
                }
            }
            x
        })
        .collect()
}

/// Completes decisions with the LP; a battery that would charge and discharge at once is
/// completed again with the direction binaries on.
fn complete(
    day: &Day,
    objective: Objective,
    solver: Solver,
    dec: &[Decision],
    drop: bool,
) -> Result<Option<Solved>, HomeError> {
    let mut b = Build {
        drop,
        fixed: Some(dec),
        time_limit: Some(10.0),
        ..Build::new(objective, solver)
    };
    match milp::solve(day, b)?.solved() {
        Some(s) if s.simultaneous => {
            b.strict = true;
            Ok(milp::solve(day, b)?.solved().or(Some(s)))
        }
        other => Ok(other),
    }
}

/// Runs the heuristic from the LP relaxation `relaxed` (if there is one). With `drop`, loads
/// are shed until the day fits; without it, `None` means no feasible arrangement was found.
pub(crate) fn run(
    day: &Day,
    objective: Objective,
    solver: Solver,
    relaxed: Option<&Solved>,
    deadline: Instant,
    drop: bool,
) -> Result<Option<Found>, HomeError> {
    let shapes: Vec<Shape> = (0..day.loads.len()).map(|k| shape(day, k)).collect();
    let on = shapes
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let vals = relaxed.map_or_else(
                // Without a relaxation: prefer cheap steps.
                || {
                    (0..day.n_steps)
                        .map(|t| -day.import_price[t])
                        .collect::<Vec<_>>()
                },
                |r| r.on_values[k].clone(),
            );
            round(day, k, s, &vals)
        })
        .collect();
    let mut search = Search {
        day,
        objective,
        background: background(day, &shapes, relaxed.map(|r| &r.plan)),
        shapes,
        on,
        served: vec![true; day.loads.len()],
    };
    let mut best: Option<Found> = None;
    let mut constructed = false;
    loop {
        search.improve(deadline);
        if !search.over_steps().is_empty() && !constructed {
            // Rounding left loads over a limit: pack them one by one instead, in shaken
            // orders, for half the time left, keeping the best packing within the limits.
            // When shedding is allowed, one packing, then shed rather than shake.
            constructed = true;
            let now = Instant::now();
            let until = now + deadline.saturating_duration_since(now) / 2;
            let mut kept: Option<(f64, Vec<Vec<bool>>)> = None;
            for round in 0.. {
                if round > 0 && search.over_steps().is_empty() {
                    let sc = search.score();
                    if kept.as_ref().is_none_or(|k| sc < k.0) {
                        kept = Some((sc, search.on.clone()));
                    }
                }
                if Instant::now() >= until || (drop && round > 0) {
                    break;
                }
                search.construct(round);
                search.improve(until);
            }
            if let Some((_, on)) = kept {
                search.on = on;
            }
        }
        let over = search.over_steps();
        if !over.is_empty() {
            // No completion can fix on/off loads over a limit.
            if !drop || best.is_some() || shed(&mut search, &over) || Instant::now() > deadline {
                return Ok(best);
            }
            continue;
        }
        let dec = search.decisions();
        let done = match complete(day, objective, solver, &dec, drop)? {
            Some(s) if violations(day, &s.plan, &s.dropped).is_empty() => {
                let f = figures(day, &s.plan);
                let v = objective.value(day, &s.plan, &f, &s.dropped, drop);
                let better = best.as_ref().is_none_or(|b| v < b.objective - 1e-9);
                let bg = background(day, &search.shapes, Some(&s.plan));
                if better {
                    best = Some(Found {
                        plan: s.plan,
                        decisions: dec,
                        dropped: s.dropped,
                        objective: v,
                    });
                }
                // Another round only if the new background may move the on/off loads.
                let again = better && bg != search.background;
                search.background = bg;
                !again
            }
            _ if drop && best.is_none() => {
                // Fits the grid yet the completion fails (battery, modulating loads): shed
                // the largest modulating or on/off load still served.
                shed(&mut search, &(0..day.n_steps).collect::<Vec<_>>())
            }
            _ => true,
        };
        if done || Instant::now() > deadline {
            return Ok(best);
        }
    }
}

/// Drops the served load of lowest priority drawing most energy in `steps`; `true` when
/// nothing is left to drop.
fn shed(search: &mut Search<'_>, steps: &[usize]) -> bool {
    let day = search.day;
    let h = day.step_h();
    let draw = |k: usize| match search.shapes[k] {
        Shape::Run { power_w, .. } | Shape::Free { power_w, .. } => {
            steps.iter().filter(|&&t| search.on[k][t]).count() as f64 * power_w
        }
        Shape::Lp => {
            let l = &day.loads[k];
            l.energy_wh(h) / h * steps.iter().filter(|t| l.window.contains(t)).count() as f64
                / l.window.len() as f64
        }
    };
    // The lowest priority first; among equals, the load drawing most.
    let pick = (0..day.loads.len())
        .filter(|&k| search.served[k])
        .max_by(|&a, &b| {
            (day.loads[b].priority.cmp(&day.loads[a].priority)).then(draw(a).total_cmp(&draw(b)))
        });
    match pick {
        Some(k) => {
            search.served[k] = false;
            search.on[k] = vec![false; day.n_steps];
            if let Shape::Lp = search.shapes[k] {
                // Its share of the background goes with it.
                let l = &day.loads[k];
                for t in l.window.clone() {
                    search.background[t] -= l.energy_wh(h) / h / l.window.len() as f64;
                }
            }
            false
        }
        None => true,
    }
}

/// The on/off decisions behind a plan (what a completion or a neighbourhood fixes).
fn decisions_of(day: &Day, shapes: &[Shape], plan: &Plan, dropped: &[usize]) -> Vec<Decision> {
    (0..day.loads.len())
        .map(|k| Decision {
            on: match shapes[k] {
                Shape::Lp => Vec::new(),
                _ => plan.loads[k].1.iter().map(|&p| p > TOL_W).collect(),
            },
            served: !dropped.contains(&k),
        })
        .collect()
}

/// Loads freed together, at most this many: a programme microlp closes in a fraction of a
/// second.
const FREED: usize = 10;

/// Large-neighbourhood search: frees a few on/off loads at a time — those that may run in one
/// stretch of the day, the ones running there now first — and re-plans them exactly with
/// every other decision fixed (the battery and the modulating loads stay free), warm-started
/// from the current plan so that no step makes it worse. Stretches of 6, 12 and 24 steps are
/// swept, shifted on each sweep, until a sweep improves nothing or `deadline` passes. Where the local search
/// moves one load at a time, this moves several at once, which is what a day packed against
/// the connection limit needs.
pub(crate) fn neighbourhoods(
    day: &Day,
    objective: Objective,
    solver: Solver,
    mut found: Found,
    deadline: Instant,
) -> Result<Found, HomeError> {
    let shapes: Vec<Shape> = (0..day.loads.len()).map(|k| shape(day, k)).collect();
    let movable: Vec<usize> = (0..day.loads.len())
        .filter(|&k| !matches!(shapes[k], Shape::Lp) && !found.dropped.contains(&k))
        .collect();
    if movable.len() <= FREED {
        return Ok(found); // the exact search sees the whole day at this size
    }
    for sweep in 0.. {
        let mut improved = false;
        for set in &stretches(day, &movable, &found.decisions, sweep) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(found);
            }
            let mut fixed = found.decisions.clone();
            for &k in set {
                fixed[k].on.clear();
            }
            let mut b = Build {
                fixed: Some(&fixed),
                hint: Some(&found.decisions),
                time_limit: Some(left.as_secs_f64().min(1.0)),
                ..Build::new(objective, solver)
            };
            let mut s = milp::solve(day, b)?.solved();
            if s.as_ref().is_some_and(|s| s.simultaneous) {
                b.strict = true;
                s = milp::solve(day, b)?.solved().or(s);
            }
            let Some(s) = s else { continue };
            if !violations(day, &s.plan, &s.dropped).is_empty() {
                continue;
            }
            let f = figures(day, &s.plan);
            let v = objective.value(day, &s.plan, &f, &s.dropped, false);
            if v < found.objective - 1e-9 * found.objective.abs().max(1.0) {
                found = Found {
                    decisions: decisions_of(day, &shapes, &s.plan, &s.dropped),
                    plan: s.plan,
                    dropped: s.dropped,
                    objective: v,
                };
                improved = true;
            }
        }
        if !improved {
            return Ok(found);
        }
    }
    Ok(found)
}

/// The sets of loads a sweep frees: for stretches of 6, 12 and 24 steps, shifted a little on
/// each sweep, the loads that may run in the stretch, those running there now first.
fn stretches(day: &Day, movable: &[usize], on: &[Decision], sweep: usize) -> Vec<Vec<usize>> {
    let n = day.n_steps;
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for width in [6, 12, 24] {
        let stride = (width / 2).max(1);
        for a in ((sweep * 2) % stride..n).step_by(stride) {
            let b = (a + width).min(n);
            let mut near: Vec<(usize, usize)> = movable
                .iter()
                .filter(|&&k| day.loads[k].window.start < b && day.loads[k].window.end > a)
                .map(|&k| (on[k].on[a..b].iter().filter(|x| **x).count(), k))
                .collect();
            near.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
            let mut set: Vec<usize> = near.iter().take(FREED).map(|x| x.1).collect();
            set.sort_unstable();
            if set.len() > 1 && !sets.contains(&set) {
                sets.push(set);
            }
        }
    }
    sets
}
