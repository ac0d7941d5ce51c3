//! A feasible schedule with full knowledge: the primal side of the central reference.
//!
//! The bound (the LP relaxation or the Lagrangian) says what no allocation can beat. This is
//! one allocation that the same knowledge reaches and that keeps every constraint of the
//! reference, so the optimum lies between the two, and a run's distance to it is bracketed
//! from both sides.
//!
//! **How.** Greedy by value per kWh, highest class first. Each job takes its most valuable
//! option that fits (a start, and for an energy target a power level); each elastic load, slot
//! by slot, the most power it may use that fits (none, or at least its minimum). *Fits*: the
//! room of every circuit on its path in every slot it covers, and the real battery (the
//! simulator's own rule, [`battery_step`]) under the households' real load and everything
//! placed, such that the households lose no more than they would anyway: a kWh they lose
//! costs the value of a critical kWh, which no placement gains more than. The real battery is
//! stricter than the reference's energy limits, which relax it (see the parent module), so a
//! schedule that keeps it keeps them. Within a class, two orders are tried (elastic loads
//! before jobs, and after) and the better schedule kept.

use powerslot_core::Slot;
use powerslot_protocol::welfare;
use powerslot_protocol::{CircuitIx, CircuitTree};

use super::super::budget::battery_step;
use super::super::model::SolarBattery;
use super::{ElasticLoad, Job};

/// A battery behind one circuit: the real production, the households' real load under it.
pub(super) struct BatterySite<'a> {
    pub circuit: CircuitIx,
    pub sb: &'a SolarBattery,
    /// The households' real draw under the circuit per slot, mW.
    pub uncontrolled_mw: Vec<i64>,
    /// The charge placements keep after every slot where the households' load leaves it
    /// there (the runs' lowest, [`BatteryFloor`](super::BatteryFloor)), mWh.
    pub lowest_mwh: f64,
    /// The same after the last slot (the runs' least at the end, or the lowest), mWh.
    pub end_mwh: f64,
}

/// A feasible schedule with full knowledge, and what it is worth.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// Value served less the households' lost load at the value of lost load.
    pub welfare: f64,
    /// Value served per class, lowest first (low, normal, high, critical).
    pub value_by_class: [f64; 4],
    /// Value served per device (the fleet's order).
    pub value_by_device: Vec<f64>,
    /// Power per device and slot, mW.
    pub drawn_mw: Vec<Vec<f64>>,
    /// What the households under the root went without per slot, mW (as
    /// [`MechResult::household_unserved_mw`](super::super::engine::MechResult::household_unserved_mw)).
    pub lost_mw: Vec<f64>,
}

impl Schedule {
    /// Per device: energy booked (kWh, for slots of `slot_h` hours) and value served.
    pub fn by_device(&self, slot_h: f64) -> Vec<(f64, f64)> {
        self.drawn_mw
            .iter()
            .zip(&self.value_by_device)
            .map(|(mw, &v)| (mw.iter().sum::<f64>() * slot_h / 1e6, v))
            .collect()
    }
}

/// Tolerance of the battery check, mWh (a microwatt-hour: float noise, nothing physical).
const EPS_MWH: f64 = 1e-3;

/// The battery as the schedule grows: load, charge at each slot's start, shortfall.
struct Battery<'a> {
    site: &'a BatterySite<'a>,
    slot_h: f64,
    /// The charge placements may not take the battery below (where it is above it), mWh.
    floor_mwh: f64,
    /// The same after the last slot, mWh.
    end_floor_mwh: f64,
    load_mw: Vec<i64>,
    /// Stored at the start of each slot (one more entry than slots), mWh.
    stored: Vec<f64>,
    /// Energy no source could serve per slot, mWh.
    short: Vec<f64>,
}

impl<'a> Battery<'a> {
    fn new(site: &'a BatterySite<'a>, slots: usize, slot_h: f64, keep_reserve: bool) -> Self {
        let floor_mwh = if keep_reserve {
            site.lowest_mwh.max(site.sb.reserve_mwh as f64)
        } else {
            site.lowest_mwh
        };
        let mut b = Battery {
            site,
            slot_h,
            floor_mwh,
            end_floor_mwh: floor_mwh.max(site.end_mwh),
            load_mw: (0..slots)
                .map(|s| site.uncontrolled_mw.get(s).copied().unwrap_or(0))
                .collect(),
            stored: vec![0.0; slots + 1],
            short: vec![0.0; slots],
        };
        b.stored[0] = site.sb.initial_mwh as f64;
        b.simulate_from(0);
        b
    }

    fn simulate_from(&mut self, from: usize) {
        let mut stored = self.stored[from];
        for t in from..self.load_mw.len() {
            let (short, _) = battery_step(
                self.site.sb,
                self.slot_h,
                t as Slot,
                &mut stored,
                self.load_mw[t],
            );
            self.short[t] = short;
            self.stored[t + 1] = stored;
        }
    }

    /// Whether `extra` (slot, mW; slots ascending) drawn beside what is placed leaves every
    /// slot's shortfall as it is, and the charge above the floor wherever it was. More load never lowers the charge, so from the first slot
    /// after the extra where the charge is back where it was, nothing changes.
    fn keeps(&self, extra: &[(usize, i64)]) -> bool {
        let Some(&(first, _)) = extra.first() else {
            return true;
        };
        let last = extra.last().map_or(first, |e| e.0);
        let mut stored = self.stored[first];
        let mut k = 0;
        for t in first..self.load_mw.len() {
            if t > last && (stored - self.stored[t]).abs() < EPS_MWH {
                return true;
            }
            let mut load = self.load_mw[t];
            while k < extra.len() && extra[k].0 == t {
                load += extra[k].1;
                k += 1;
            }
            let (short, _) = battery_step(self.site.sb, self.slot_h, t as Slot, &mut stored, load);
            let floor = if t + 1 == self.load_mw.len() {
                self.end_floor_mwh
            } else {
                self.floor_mwh
            };
            if short > self.short[t] + EPS_MWH || stored < floor.min(self.stored[t + 1]) - EPS_MWH {
                return false;
            }
        }
        true
    }

    fn add(&mut self, extra: &[(usize, i64)]) {
        let Some(&(first, _)) = extra.first() else {
            return;
        };
        for &(t, p) in extra {
            self.load_mw[t] += p;
        }
        self.simulate_from(first);
    }
}

/// The state a schedule is built on: room per circuit and slot, and the batteries.
struct Builder<'a> {
    tree: &'a CircuitTree,
    room: Vec<Vec<i64>>,
    batteries: Vec<Battery<'a>>,
    drawn_mw: Vec<Vec<f64>>,
    value_by_class: [f64; 4],
    value_by_device: Vec<f64>,
}

impl Builder<'_> {
    /// Whether `extra` fits every circuit on `circuit`'s path and every battery above it.
    fn fits(&self, circuit: CircuitIx, extra: &[(usize, i64)]) -> bool {
        let path = self.tree.path(circuit);
        let roomy = extra.iter().all(|&(s, p)| {
            path.iter()
                .all(|&n| self.room[n as usize].get(s).is_some_and(|&r| r >= p))
        });
        roomy
            && self
                .batteries
                .iter()
                .filter(|b| self.tree.covers(b.site.circuit, circuit))
                .all(|b| b.keeps(extra))
    }

    fn place(&mut self, device: usize, circuit: CircuitIx, extra: &[(usize, i64)]) {
        for &n in self.tree.path(circuit) {
            for &(s, p) in extra {
                self.room[n as usize][s] -= p;
            }
        }
        for b in &mut self.batteries {
            if self.tree.covers(b.site.circuit, circuit) {
                b.add(extra);
            }
        }
        for &(s, p) in extra {
            self.drawn_mw[device][s] += p as f64;
        }
    }

    fn place_job(&mut self, job: &Job) {
        let mut order: Vec<usize> = (0..job.opts.len()).collect();
        order.sort_by(|&a, &b| job.opts[b].value.total_cmp(&job.opts[a].value));
        for k in order {
            let o = &job.opts[k];
            if o.value <= 0.0 {
                break;
            }
            let extra: Vec<(usize, i64)> = o
                .powers
                .iter()
                .enumerate()
                .map(|(i, &p)| (o.start as usize + i, p))
                .collect();
            if self.fits(job.circuit, &extra) {
                self.place(job.device, job.circuit, &extra);
                self.value_by_class[job.priority as usize] += o.value;
                self.value_by_device[job.device] += o.value;
                return;
            }
        }
    }

    fn place_elastic(&mut self, e: &ElasticLoad, slot_h: f64) {
        let path = self.tree.path(e.circuit);
        for (s, &cap) in e.cap.iter().enumerate() {
            let room = path
                .iter()
                .map(|&n| self.room[n as usize].get(s).copied().unwrap_or(0))
                .min()
                .unwrap_or(0);
            let hi = cap.min(room);
            let lo = e.min_mw.max(1);
            if hi < lo {
                continue;
            }
            let q = if self.fits(e.circuit, &[(s, hi)]) {
                hi
            } else if !self.fits(e.circuit, &[(s, lo)]) {
                continue;
            } else {
                // The most that fits, to a watt: `ok` fits, `bad` does not.
                let (mut ok, mut bad) = (lo, hi);
                while bad - ok > 1_000 {
                    let mid = ok + (bad - ok) / 2;
                    if self.fits(e.circuit, &[(s, mid)]) {
                        ok = mid;
                    } else {
                        bad = mid;
                    }
                }
                ok
            };
            self.place(e.device, e.circuit, &[(s, q)]);
            let value = e.vpk * slot_h * q as f64 / 1e6;
            self.value_by_class[e.priority as usize] += value;
            self.value_by_device[e.device] += value;
        }
    }
}

/// Builds the schedule (see the module docs) for `devices` devices over `slots` slots; with
/// `keep_reserve`, placements also keep each battery above its reserve wherever the
/// households' load and what is already placed leave it there (the site's own rule, which
/// the budget publisher plans on and the reference leaves out).
#[allow(clippy::too_many_arguments)]
pub(super) fn schedule(
    tree: &CircuitTree,
    residual: &[Vec<i64>],
    jobs: &[Job],
    elastic: &[ElasticLoad],
    batteries: &[BatterySite<'_>],
    slot_h: f64,
    slots: usize,
    devices: usize,
    keep_reserve: bool,
) -> Schedule {
    [false, true]
        .into_iter()
        .map(|jobs_first| {
            build(
                tree,
                residual,
                jobs,
                elastic,
                batteries,
                (slot_h, slots, devices),
                jobs_first,
                keep_reserve,
            )
        })
        .max_by(|a, b| a.welfare.total_cmp(&b.welfare))
        .expect("two orders")
}

#[allow(clippy::too_many_arguments)]
fn build(
    tree: &CircuitTree,
    residual: &[Vec<i64>],
    jobs: &[Job],
    elastic: &[ElasticLoad],
    batteries: &[BatterySite<'_>],
    (slot_h, slots, devices): (f64, usize, usize),
    jobs_first: bool,
    keep_reserve: bool,
) -> Schedule {
    let mut b = Builder {
        tree,
        room: (0..tree.len())
            .map(|n| {
                (0..slots)
                    .map(|s| {
                        residual
                            .get(n)
                            .and_then(|v| v.get(s))
                            .copied()
                            .unwrap_or(0)
                            .max(0)
                    })
                    .collect()
            })
            .collect(),
        batteries: batteries
            .iter()
            .map(|site| Battery::new(site, slots, slot_h, keep_reserve))
            .collect(),
        drawn_mw: vec![vec![0.0; slots]; devices],
        value_by_class: [0.0; 4],
        value_by_device: vec![0.0; devices],
    };
    // Highest value per kWh first; within a class, the chosen kind first, and among jobs the
    // least flexible (fewest options) first.
    enum Item {
        Job(usize),
        Elastic(usize),
    }
    let mut items: Vec<(f64, bool, usize, Item)> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.vpk, jobs_first, j.opts.len(), Item::Job(i)))
        .chain(
            elastic
                .iter()
                .enumerate()
                .map(|(i, e)| (e.vpk, !jobs_first, 0, Item::Elastic(i))),
        )
        .collect();
    items.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for (_, _, _, item) in &items {
        match *item {
            Item::Job(i) => b.place_job(&jobs[i]),
            Item::Elastic(i) => b.place_elastic(&elastic[i], slot_h),
        }
    }
    let lost_mwh: f64 = b
        .batteries
        .iter()
        .map(|x| x.short.iter().sum::<f64>())
        .sum();
    let lost_mw = b
        .batteries
        .iter()
        .find(|x| x.site.circuit == 0)
        .map_or_else(
            || vec![0.0; slots],
            |x| x.short.iter().map(|m| m / slot_h).collect(),
        );
    Schedule {
        welfare: b.value_by_class.iter().sum::<f64>()
            - welfare::value_of_lost_load() * lost_mwh / 1e6,
        value_by_class: b.value_by_class,
        value_by_device: b.value_by_device,
        drawn_mw: b.drawn_mw,
        lost_mw,
    }
}
