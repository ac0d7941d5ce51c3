//! Scenario builders: a few hundred real traces become thousands of devices, deterministically
//! for a seed.
//!
//! Three built-in scenarios ([`ScenarioKind`]; a scenario file, [`super::scenario_file`], uses
//! the same device makers on a site the user describes):
//!
//! * **`neighbourhood`** — an off-grid street on 15-minute slots from 12:00 (so that the
//!   evening peak, the night on the battery and the next morning's sun fall in one day):
//!   houses, each with its household load and, drawn per house, a washer, a dishwasher, an
//!   EV, a water heater, a pool pump or a medical device. Circuits: `site` (the inverter)
//!   → `feeder-NN` (40 houses each) → `house-NNNN` (63 A at 230 V: 14.49 kW). The site's
//!   budget is [`SolarBattery`], sized by the rule in [`neighbourhood`].
//! * **`poe-switch`** — PoE switches on 5-minute slots (the finest resolution of the CPU
//!   data; 1-minute slots would only repeat each value five times, at five times the memory),
//!   alternating an 802.3at access switch and an 802.3bt server switch, each a circuit subtree
//!   from [`powerslot_protocol::port::PoeSwitch::circuits`] with a fixed budget below the sum of
//!   its ports' classes. See [`poe_switch`].
//! * **`sensor-field`** — solar-harvesting sensor nodes on 15-minute slots, in hubs of 25 whose
//!   pooled panels and batteries are each a [`SolarBattery`]; a node's duty cycle is an
//!   elastic load. See [`sensor_field`].
//!
//! # How a few hundred traces become thousands of devices
//!
//! Every device draws its own stretch of real data, **with replacement**, from an RNG seeded
//! by (seed, scenario part, house or port number), so the same seed gives the same fleet and a
//! larger fleet starts with the same houses as a smaller one:
//!
//! 1. **Which trace and which days.** A device picks one *anchor*, uniformly. For a series
//!    (household load, water heater, CPU, irradiance) it is a (series, day) pair whose
//!    stretch of `days`, with the history days before it, has at most 10 % gaps. For events
//!    it is an event: an EV is a real user on a day they plugged in (a session of at least
//!    0.1 kWh and 15 minutes, so busy users appear more often, as they would in a street); a
//!    washer or dishwasher is a real machine on a day it ran. The device then replays its
//!    trace from the anchor on — for a car or a machine its real sequence of sessions or
//!    cycles over the following days, days without any included — moved by **whole days**
//!    onto the run's calendar (a run day starts at the run's time of day, noon for the
//!    street).
//! 2. **A random offset inside ±1 hour** (uniform, whole minutes) moves everything the device
//!    does, so that twenty copies of one household do not peak in the same minute. For event
//!    anchors the offset is narrowed so that the anchor event stays inside the run.
//! 3. **Power scaled by a factor uniform in 0.95–1.05** (EV energy likewise): the same
//!    machine model in another house, a slightly different car.
//! 4. **Deadlines drawn per job** (below), so copies of one cycle do not share a deadline.
//!
//! The solar budget is never shifted or scaled: every house of a street shares one sky (one
//! anchor for the site).
//!
//! # Jobs, deadlines and `accept_until`
//!
//! * **Washer and dishwasher cycles** arrive when the real user started them (the slot holding
//!   the first minute above 10 W). The user wants the cycle finished within a time drawn
//!   uniformly in **2–10 hours** from arrival (at least the cycle's length), and would still
//!   accept an offer that finishes up to **0–4 hours** later (drawn uniformly): that is
//!   `accept_until`. A machine's next cycle arrives after its previous one ended, so the
//!   previous deadline is clipped to the next arrival. Washers are not interruptible (wet
//!   laundry); dishwashers are (their phases already pause for 20–35 minutes).
//! * **EV sessions** arrive at plug-in and must be done by plug-out (`deadline` and
//!   `accept_until` are both the plug-out slot: the car leaves). Plug-in is rounded down and
//!   plug-out up to whole slots, so the real session always fits; its energy is what the car
//!   really took (scaled as above), capped at what the charger delivers in the window. A
//!   session that plugs in while an earlier one of the same car is still within its window
//!   starts when that window ends.
//! * Jobs never reach past the run: a deadline beyond it is clipped to the last slot; a cycle
//!   that no longer fits is left out, and an EV gets the energy its charger can deliver by then.
//!
//! # Priorities (the rationale)
//!
//! * **critical** — household load (uncontrollable, taken off the budget before anything else:
//!   in the language of classes it is never shed for a lower one), home medical devices (a
//!   350 W oxygen concentrator in 2 % of houses, an elastic load whose minimum is its
//!   maximum: on or shed, never scaled), VoIP phones (emergency calls), relay nodes of a
//!   sensor field (the network itself).
//! * **high** — heating: electric water heaters; security cameras; alarm sensor nodes.
//! * **normal** — the deferrable work users start and expect done: washers, dishwashers, EVs;
//!   Wi-Fi access points; monitoring sensor nodes.
//! * **low** — what can always wait: pool pumps (filtration runs whenever the sun allows),
//!   batch servers, bulk-logging sensor nodes.

use std::collections::{BTreeMap, HashMap, HashSet};

use powerslot_protocol::port::{PoeStandard, PoeSwitch, PortPriority};
use powerslot_protocol::{
    CircuitSpec, CircuitTree, Demand, DeviceId, PowerValue, Priority, limits,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::model::{BudgetSource, Fleet, SimDevice, SimJob, SimKind, SolarBattery, Work};
use super::traces::{
    Appliance, ApplianceCycle, DAY, DataError, DataSource, EvLog, Library, Minute, Pool, Result,
    Series, format_minute, infer_charger,
};

/// The options every scenario takes.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildOptions {
    /// Devices to build (exactly).
    pub devices: usize,
    /// Days simulated.
    pub days: u32,
    /// Seed: the same seed gives the same fleet.
    pub seed: u64,
    /// Slot length in minutes (`None`: the scenario's own; must divide a day).
    pub slot_minutes: Option<u32>,
    /// Days of history before the run for uncontrollable loads (their forecasters' data).
    pub history_days: u32,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            devices: 1_000,
            days: 1,
            seed: 1,
            slot_minutes: None,
            history_days: 3,
        }
    }
}

/// The built-in scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScenarioKind {
    /// An off-grid neighbourhood on solar and a battery.
    Neighbourhood,
    /// PoE switches with access points, servers, cameras and phones.
    PoeSwitch,
    /// Solar-harvesting sensor nodes in hubs.
    SensorField,
}

impl ScenarioKind {
    /// All three.
    pub const ALL: [ScenarioKind; 3] = [
        ScenarioKind::Neighbourhood,
        ScenarioKind::PoeSwitch,
        ScenarioKind::SensorField,
    ];

    /// `neighbourhood`, `poe-switch` or `sensor-field`.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioKind::Neighbourhood => "neighbourhood",
            ScenarioKind::PoeSwitch => "poe-switch",
            ScenarioKind::SensorField => "sensor-field",
        }
    }

    /// Parses [`ScenarioKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// The data the scenario draws from.
    pub fn pools(self) -> &'static [Pool] {
        match self {
            ScenarioKind::Neighbourhood => &[
                Pool::EvSessions,
                Pool::Cycles,
                Pool::Households,
                Pool::WaterHeaters,
                Pool::Irradiance,
            ],
            ScenarioKind::PoeSwitch => &[Pool::Servers, Pool::Irradiance],
            ScenarioKind::SensorField => &[Pool::Irradiance],
        }
    }
}

impl ScenarioKind {
    /// The scenario's grid: its slot length (unless the options set one) and the local time
    /// of slot 0 (noon for the street, so that one day holds its evening, night and morning).
    fn grid(self, opts: &BuildOptions) -> Result<Grid> {
        check_count(opts.devices)?;
        let (slot_min, start) = match self {
            ScenarioKind::Neighbourhood => (15, 12 * 60),
            ScenarioKind::PoeSwitch => (5, 0),
            ScenarioKind::SensorField => (15, 0),
        };
        Grid::new(
            opts.slot_minutes.unwrap_or(slot_min),
            opts.days,
            start,
            opts.history_days,
        )
    }

    /// The checked fleet.
    fn fleet(
        self,
        grid: &Grid,
        circuits: Vec<CircuitSpec>,
        budgets: Vec<(String, BudgetSource)>,
        devices: Vec<SimDevice>,
        provenance: Vec<String>,
    ) -> Result<Fleet> {
        assemble(self.name(), grid, circuits, budgets, devices, provenance)
    }
}

/// A fleet on `grid` from its parts, checked by [`check`].
pub(crate) fn assemble(
    name: &str,
    grid: &Grid,
    circuits: Vec<CircuitSpec>,
    budgets: Vec<(String, BudgetSource)>,
    devices: Vec<SimDevice>,
    provenance: Vec<String>,
) -> Result<Fleet> {
    let fleet = Fleet {
        name: name.into(),
        slot_ms: grid.slot_ms(),
        slots: grid.slots() as u32,
        start_of_day_s: (grid.start_of_day * 60) as u32,
        circuits,
        budgets,
        devices,
        owners: Vec::new(),
        provenance,
    };
    check(&fleet)?;
    Ok(fleet)
}

/// The root of a built-in scenario, rated once its parts are known.
fn site_root() -> CircuitSpec {
    CircuitSpec {
        name: "site".into(),
        parent: None,
        rating_mw: 0,
    }
}

/// Loads the data a scenario needs from `source` and builds it.
pub fn build(kind: ScenarioKind, source: &DataSource, opts: &BuildOptions) -> Result<Fleet> {
    let lib = source.load(kind.pools())?;
    match kind {
        ScenarioKind::Neighbourhood => neighbourhood(&lib, opts),
        ScenarioKind::PoeSwitch => poe_switch(&lib, opts),
        ScenarioKind::SensorField => sensor_field(&lib, opts),
    }
}

// ---------------------------------------------------------------------------------------------
// The run's grid and random streams

/// The run's time grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grid {
    /// Slot length, minutes.
    pub slot_min: u32,
    /// Days run.
    pub days: u32,
    /// Minutes after local midnight at which slot 0 starts.
    pub start_of_day: Minute,
    /// History days for uncontrollable loads.
    pub history_days: u32,
}

impl Grid {
    pub(crate) fn new(
        slot_min: u32,
        days: u32,
        start_of_day: Minute,
        history_days: u32,
    ) -> Result<Self> {
        if slot_min == 0 || slot_min > 60 || DAY % i64::from(slot_min) != 0 {
            return Err(DataError::Parameter {
                name: "slot minutes".into(),
                reason: format!("{slot_min} must be 1 to 60 and divide a day"),
            });
        }
        if !(1..=366).contains(&days) {
            return Err(DataError::Parameter {
                name: "days".into(),
                reason: format!("{days} is not 1 to 366"),
            });
        }
        if history_days > 28 {
            return Err(DataError::Parameter {
                name: "history days".into(),
                reason: format!("{history_days} is more than 28"),
            });
        }
        if !(0..DAY).contains(&start_of_day) || start_of_day % i64::from(slot_min) != 0 {
            return Err(DataError::Parameter {
                name: "start".into(),
                reason: format!(
                    "{start_of_day} minutes after midnight is not a slot boundary of the day"
                ),
            });
        }
        Ok(Self {
            slot_min,
            days,
            start_of_day,
            history_days,
        })
    }

    pub(crate) fn per_day(&self) -> usize {
        (DAY / i64::from(self.slot_min)) as usize
    }

    pub(crate) fn slots(&self) -> usize {
        self.per_day() * self.days as usize
    }

    pub(crate) fn run_min(&self) -> Minute {
        DAY * i64::from(self.days)
    }

    pub(crate) fn slot_ms(&self) -> u64 {
        u64::from(self.slot_min) * 60_000
    }

    fn floor_slot(&self, m: Minute) -> i64 {
        m.div_euclid(i64::from(self.slot_min))
    }

    fn ceil_slot(&self, m: Minute) -> i64 {
        -(-m).div_euclid(i64::from(self.slot_min))
    }

    /// The run-day start (trace clock) holding `t`.
    fn day_start(&self, t: Minute) -> Minute {
        (t - self.start_of_day).div_euclid(DAY) * DAY + self.start_of_day
    }
}

fn mix(mut z: u64) -> u64 {
    // SplitMix64's finaliser: neighbouring inputs give unrelated seeds.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The random stream of one part (`stream`) of one scenario element (`index`).
pub(crate) fn rng_for(seed: u64, stream: u64, index: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(mix(seed)
        ^ mix(stream.wrapping_add(0x9e37_79b9_7f4a_7c15))
        ^ index))
}

/// Power in W to whole milliwatts (never negative).
pub(crate) fn mw(w: f64) -> i64 {
    (w * 1_000.0).round().max(0.0) as i64
}

/// The ±1 h offset, narrowed so that an event `e` minutes into the run stays inside it.
fn offset(rng: &mut ChaCha8Rng, grid: &Grid, event: Option<Minute>) -> Minute {
    let (lo, hi) = match event {
        None => (-60, 60),
        Some(e) => (
            (-60).max(-e),
            60.min(grid.run_min() - i64::from(grid.slot_min) - e),
        ),
    };
    if lo >= hi {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

fn scale(rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(0.95..=1.05)
}

/// Draws tried for a car or a machine before giving up on finding it a job inside the run.
const REDRAWS: usize = 100;

// ---------------------------------------------------------------------------------------------
// Anchors: where in the data a device starts

/// Days with more gaps than this are never replayed.
pub const MAX_GAP_SHARE: f64 = 0.1;
/// Days of irradiance before the run given to the solar predictor (its clear-sky envelope
/// uses ten).
pub const SOLAR_HISTORY_DAYS: u32 = 10;

/// Eligible (series, run start on the series' clock) pairs of a pool.
pub(crate) struct SeriesDraw<'a> {
    pool: &'a [Series],
    anchors: Vec<(usize, Minute)>,
    history_days: u32,
}

impl<'a> SeriesDraw<'a> {
    pub(crate) fn new(
        pool: &'a [Series],
        grid: &Grid,
        history_days: u32,
        what: &str,
    ) -> Result<Self> {
        let mut anchors = Vec::new();
        for (k, s) in pool.iter().enumerate() {
            let mut day = s.start.div_euclid(DAY) * DAY;
            while day < s.end() {
                let a = day + grid.start_of_day;
                let from = a - i64::from(history_days) * DAY - 60;
                let to = a + grid.run_min() + 60;
                if s.covers(from, to) && s.gap_share(from, to) <= MAX_GAP_SHARE {
                    anchors.push((k, a));
                }
                day += DAY;
            }
        }
        if anchors.is_empty() {
            let held = pool
                .iter()
                .map(|s| (s.end() - s.start) / DAY)
                .max()
                .unwrap_or(0);
            return Err(DataError::Content {
                file: what.into(),
                reason: format!(
                    "no stretch of {} day(s) with {history_days} day(s) before it and at most \
                     10 % gaps in {} series holding up to {held} days (the shipped samples are \
                     short: use a data directory for longer runs)",
                    grid.days,
                    pool.len()
                ),
            });
        }
        Ok(Self {
            pool,
            anchors,
            history_days,
        })
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> (&'a Series, Minute) {
        let (k, a) = self.anchors[rng.random_range(0..self.anchors.len())];
        (&self.pool[k], a)
    }

    /// One draw with its offset: the series, where slot 0 starts on its clock, and a note.
    fn draw_shifted(&self, grid: &Grid, rng: &mut ChaCha8Rng) -> (&'a Series, Minute, String) {
        let (s, a) = self.draw(rng);
        let j = offset(rng, grid, None);
        let note = format!("{} from {} shifted {j:+} min", s.name, format_minute(a));
        (s, a - j, note)
    }
}

/// `slots` values of `s` from `from` in mW, times `f`, through `map` (W → W).
fn replay(
    s: &Series,
    from: Minute,
    slots: usize,
    grid: &Grid,
    f: f64,
    map: &dyn Fn(f64) -> f64,
) -> Vec<i64> {
    s.resample(from, slots, grid.slot_min)
        .unwrap_or_else(|| vec![0.0; slots])
        .into_iter()
        .map(|v| mw(map(v) * f))
        .collect()
}

/// Uncontrollable load replaying a series through `map` (to W), with its history.
pub(crate) fn base_from(
    draw: &SeriesDraw<'_>,
    grid: &Grid,
    rng: &mut ChaCha8Rng,
    map: &dyn Fn(f64) -> f64,
) -> (SimKind, String) {
    let (s, from, note) = draw.draw_shifted(grid, rng);
    let f = scale(rng);
    let h = draw.history_days as usize * grid.per_day();
    let start_h = from - i64::from(draw.history_days) * DAY;
    (
        SimKind::Base {
            actual_mw: replay(s, from, grid.slots(), grid, f, map),
            history_mw: replay(s, start_h, h, grid, f, map),
        },
        format!("{note}, ×{f:.3}"),
    )
}

/// An elastic load whose wish replays a series through `map` (to W), between `min_w` and
/// `max_w` (both scaled with the wish).
pub(crate) fn elastic_from(
    draw: &SeriesDraw<'_>,
    grid: &Grid,
    rng: &mut ChaCha8Rng,
    map: &dyn Fn(f64) -> f64,
    min_w: f64,
    max_w: f64,
) -> (SimKind, String) {
    let (s, from, note) = draw.draw_shifted(grid, rng);
    let f = scale(rng);
    let max_mw = mw(max_w * f);
    let desired = replay(s, from, grid.slots(), grid, f, map)
        .into_iter()
        .map(|v| v.min(max_mw))
        .collect();
    // The days before, where the trace holds them all (the draw does not ask for them).
    let h = grid.history_days as usize * grid.per_day();
    let start_h = from - i64::from(grid.history_days) * DAY;
    let history = if s.covers(start_h, from) && s.gap_share(start_h, from) <= MAX_GAP_SHARE {
        replay(s, start_h, h, grid, f, map)
            .into_iter()
            .map(|v| v.min(max_mw))
            .collect()
    } else {
        Vec::new()
    };
    (
        SimKind::Elastic {
            min_mw: mw(min_w * f).min(max_mw),
            max_mw,
            desired_mw: desired,
            history_mw: history,
        },
        format!("{note}, ×{f:.3}"),
    )
}

/// An elastic load that wants `max_w` every day from `on` for `hours` (local time, moved by
/// the device's offset), nothing otherwise; `hours` = 24 wants it always.
pub(crate) fn timer_elastic(
    grid: &Grid,
    rng: &mut ChaCha8Rng,
    min_w: f64,
    max_w: f64,
    on: Minute,
    hours: u32,
) -> (SimKind, String) {
    let j = if hours >= 24 {
        0
    } else {
        offset(rng, grid, None)
    };
    let len = i64::from(hours.min(24)) * 60;
    let at = |k: i64| {
        let local = (grid.start_of_day + k * i64::from(grid.slot_min) - on - j).rem_euclid(DAY);
        if local < len { mw(max_w) } else { 0 }
    };
    let h = (grid.history_days as usize * grid.per_day()) as i64;
    (
        SimKind::Elastic {
            min_mw: mw(min_w),
            max_mw: mw(max_w),
            desired_mw: (0..grid.slots() as i64).map(at).collect(),
            history_mw: (-h..0).map(at).collect(),
        },
        format!(
            "device model: {min_w}–{max_w} W, on {hours} h a day from {:02}:{:02} {j:+} min",
            on / 60,
            on % 60
        ),
    )
}

/// EV users on days they plugged in.
pub(crate) struct EvDraw<'a> {
    logs: &'a [EvLog],
    /// (log, first and end index of the user's sessions, anchor session, run start).
    anchors: Vec<(usize, usize, usize, usize, Minute)>,
}

impl<'a> EvDraw<'a> {
    pub(crate) fn new(logs: &'a [EvLog], grid: &Grid) -> Result<Self> {
        let mut anchors = Vec::new();
        for (l, log) in logs.iter().enumerate() {
            let mut first = 0;
            for chunk in log.sessions.chunk_by(|a, b| a.user == b.user) {
                let end = first + chunk.len();
                for (k, s) in chunk.iter().enumerate() {
                    let a = grid.day_start(s.plug_in);
                    if s.energy_wh >= 100.0
                        && s.plug_out - s.plug_in >= 15
                        && a + grid.run_min() <= log.end
                    {
                        anchors.push((l, first, end, first + k, a));
                    }
                }
                first = end;
            }
        }
        if anchors.is_empty() {
            return Err(DataError::Content {
                file: "EV sessions".into(),
                reason: format!(
                    "no session of at least 0.1 kWh with {} day(s) of the log after it",
                    grid.days
                ),
            });
        }
        Ok(Self { logs, anchors })
    }

    /// One car's jobs over the run (possibly none when every session falls outside it).
    fn jobs(&self, grid: &Grid, rng: &mut ChaCha8Rng) -> (Vec<SimJob>, String) {
        let (l, first, end, k, a) = self.anchors[rng.random_range(0..self.anchors.len())];
        let log = &self.logs[l];
        let anchor = &log.sessions[k];
        let j = offset(rng, grid, Some(anchor.plug_in - a));
        let f = scale(rng);
        let charger = log
            .chargers
            .get(&anchor.user)
            .copied()
            .unwrap_or_else(|| infer_charger(std::iter::empty()));
        let (max_mw, min_mw) = (mw(charger.max_w), mw(charger.min_w));
        let slots = grid.slots() as i64;
        let mut jobs: Vec<SimJob> = Vec::new();
        for s in &log.sessions[first..end] {
            let e = s.plug_in - a + j;
            if !(0..grid.run_min()).contains(&e) {
                continue;
            }
            let prev_end = jobs.last().map_or(0, |p| i64::from(p.deadline));
            let earliest = grid.floor_slot(e).max(prev_end);
            let deadline = grid.ceil_slot(s.plug_out - a + j).min(slots);
            if deadline <= earliest {
                continue;
            }
            // What the charger can deliver in the window, mWh (exact, rounded down).
            let window_mwh =
                i128::from(max_mw) * i128::from(deadline - earliest) * i128::from(grid.slot_ms())
                    / 3_600_000;
            let energy = i128::from(mw(s.energy_wh * f)).min(window_mwh) as i64;
            if energy < 100_000 {
                continue;
            }
            jobs.push(SimJob {
                arrival: earliest as u32,
                earliest: earliest as u32,
                deadline: deadline as u32,
                accept_until: deadline as u32,
                work: Work::Energy {
                    energy_mwh: energy,
                    min_mw,
                    max_mw,
                },
            });
        }
        let note = format!(
            "{} user {} (charger {:.1} kW) from {} shifted {j:+} min, energy ×{f:.3}",
            log.file,
            anchor.user,
            charger.max_w / 1_000.0,
            format_minute(a)
        );
        (jobs, note)
    }
}

/// Machines on days they ran.
pub(crate) struct CycleDraw<'a> {
    /// Cycles of one machine (house and appliance) each, by start.
    machines: Vec<Vec<&'a ApplianceCycle>>,
    /// (machine, anchor cycle, run start).
    anchors: Vec<(usize, usize, Minute)>,
    appliance: Appliance,
}

/// How long a user gives a cycle, and how much later they would still accept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadlines {
    /// Finished within this many hours of arrival (uniform between the two).
    pub finish_within_h: (f64, f64),
    /// An offer ending up to this many hours after the deadline is accepted (uniform).
    pub accept_later_h: (f64, f64),
}

impl Default for Deadlines {
    fn default() -> Self {
        Self {
            finish_within_h: (2.0, 10.0),
            accept_later_h: (0.0, 4.0),
        }
    }
}

impl<'a> CycleDraw<'a> {
    pub(crate) fn new(
        cycles: &'a [ApplianceCycle],
        appliance: Appliance,
        grid: &Grid,
    ) -> Result<Self> {
        let mut by_machine: BTreeMap<&str, Vec<&ApplianceCycle>> = BTreeMap::new();
        for c in cycles.iter().filter(|c| c.appliance == appliance) {
            by_machine.entry(&c.house).or_default().push(c);
        }
        let mut machines = Vec::new();
        let mut anchors = Vec::new();
        for (_, mut m) in by_machine {
            m.sort_by_key(|c| c.start);
            let end = m.last().map_or(0, |c| c.start.div_euclid(DAY) * DAY + DAY);
            for (k, c) in m.iter().enumerate() {
                let a = grid.day_start(c.start);
                if a + grid.run_min() <= end {
                    anchors.push((machines.len(), k, a));
                }
            }
            machines.push(m);
        }
        if anchors.is_empty() {
            return Err(DataError::Content {
                file: format!("{} cycles", appliance.name()),
                reason: format!(
                    "no machine ran on a day with {} day(s) of its data after it",
                    grid.days
                ),
            });
        }
        Ok(Self {
            machines,
            anchors,
            appliance,
        })
    }

    /// One machine's jobs over the run.
    fn jobs(
        &self,
        grid: &Grid,
        rng: &mut ChaCha8Rng,
        deadlines: &Deadlines,
    ) -> (Vec<SimJob>, String) {
        let (m, k, a) = self.anchors[rng.random_range(0..self.anchors.len())];
        let machine = &self.machines[m];
        let j = offset(rng, grid, Some(machine[k].start - a));
        let f = scale(rng);
        let slots = grid.slots() as i64;
        let hours = |h: f64| (h * 60.0).round() as i64;
        let mut jobs: Vec<SimJob> = Vec::new();
        for (i, c) in machine.iter().enumerate() {
            let e = c.start - a + j;
            if !(0..grid.run_min()).contains(&e) {
                continue;
            }
            let arrival = grid.floor_slot(e);
            let profile: Vec<i64> = c
                .resample(grid.slot_min)
                .iter()
                .map(|&w| mw(w * f))
                .collect();
            let len = profile.len() as i64;
            let within = rng.random_range(
                hours(deadlines.finish_within_h.0)..=hours(deadlines.finish_within_h.1),
            );
            let later = rng.random_range(
                hours(deadlines.accept_later_h.0)..=hours(deadlines.accept_later_h.1),
            );
            let deadline = (arrival + grid.ceil_slot(within).max(len)).min(slots);
            if deadline - arrival < len {
                continue;
            }
            // The user started the next cycle after this one ended: it is wanted done by then.
            if let Some(prev) = jobs.last_mut() {
                let cut = arrival.max(i64::from(prev.earliest) + profile_len(prev));
                prev.deadline = prev.deadline.min(cut as u32);
                prev.accept_until = prev.accept_until.min(cut as u32);
            }
            jobs.push(SimJob {
                arrival: arrival as u32,
                earliest: arrival as u32,
                deadline: deadline as u32,
                accept_until: (deadline + grid.ceil_slot(later)).min(slots) as u32,
                work: Work::Cycle {
                    actual_mw: profile,
                    past_runs: past_runs(machine, i, grid, f),
                    interruptible: self.appliance == Appliance::Dishwasher,
                },
            });
        }
        let note = format!(
            "{} {} from {} shifted {j:+} min, ×{f:.3}",
            machine[k].house,
            self.appliance.name(),
            format_minute(a)
        );
        (jobs, note)
    }
}

fn profile_len(job: &SimJob) -> i64 {
    match &job.work {
        Work::Cycle { actual_mw, .. } => actual_mw.len() as i64,
        Work::Energy { .. } => 1,
    }
}

/// Runs kept as a machine's history: the five before cycle `i` (the most recent first), filled
/// up with the ones after it when fewer than five came before.
const PAST_RUNS: usize = 5;

fn past_runs(machine: &[&ApplianceCycle], i: usize, grid: &Grid, f: f64) -> Vec<Vec<i64>> {
    let before = (0..i).rev();
    let after = i + 1..machine.len();
    before
        .chain(after)
        .take(PAST_RUNS)
        .map(|k| {
            machine[k]
                .resample(grid.slot_min)
                .iter()
                .map(|&w| mw(w * f))
                .collect()
        })
        .collect()
}

/// Draws until the device has a job in the run (a drawn session or cycle may fall outside it
/// once shifted, or be too short for the time left).
pub(crate) fn jobs_until_some(
    mut draw: impl FnMut(&mut ChaCha8Rng) -> (Vec<SimJob>, String),
    rng: &mut ChaCha8Rng,
    what: &str,
) -> Result<(SimKind, String)> {
    for _ in 0..REDRAWS {
        let (jobs, note) = draw(rng);
        if !jobs.is_empty() {
            return Ok((SimKind::Jobs(jobs), note));
        }
    }
    Err(DataError::Content {
        file: what.into(),
        reason: format!("{REDRAWS} draws gave no job that fits inside the run"),
    })
}

pub(crate) fn ev_jobs(
    draw: &EvDraw<'_>,
    grid: &Grid,
    rng: &mut ChaCha8Rng,
) -> Result<(SimKind, String)> {
    jobs_until_some(|r| draw.jobs(grid, r), rng, "EV sessions")
}

pub(crate) fn cycle_jobs(
    draw: &CycleDraw<'_>,
    grid: &Grid,
    rng: &mut ChaCha8Rng,
    deadlines: &Deadlines,
) -> Result<(SimKind, String)> {
    jobs_until_some(
        |r| draw.jobs(grid, r, deadlines),
        rng,
        draw.appliance.name(),
    )
}

// ---------------------------------------------------------------------------------------------
// Solar budgets

/// A solar array with a battery, in the units people size them in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SolarSpec {
    /// Array area, m².
    pub area_m2: f64,
    /// From irradiance to delivered power (module × losses), 0–1.
    pub efficiency: f64,
    /// Battery, Wh.
    pub battery_wh: f64,
    /// Kept in the battery, Wh.
    pub reserve_wh: f64,
    /// In the battery at the start, Wh.
    pub initial_wh: f64,
    /// Inverter rating, W.
    pub inverter_w: f64,
    /// Grid connection, W.
    pub grid_w: f64,
}

impl SolarSpec {
    fn budget(&self, sun: &Series, a: Minute, grid: &Grid) -> SolarBattery {
        let to_mw = |g: f64| g * self.area_m2 * self.efficiency;
        let h = SOLAR_HISTORY_DAYS as usize * grid.per_day();
        SolarBattery {
            production_mw: replay(sun, a, grid.slots(), grid, 1.0, &to_mw),
            history_mw: replay(
                sun,
                a - i64::from(SOLAR_HISTORY_DAYS) * DAY,
                h,
                grid,
                1.0,
                &to_mw,
            ),
            battery_mwh: mw(self.battery_wh),
            reserve_mwh: mw(self.reserve_wh),
            initial_mwh: mw(self.initial_wh),
            inverter_mw: mw(self.inverter_w),
            grid_mw: mw(self.grid_w),
        }
    }

    pub(crate) fn check(&self, name: &str) -> Result<()> {
        let bad = |reason: String| {
            Err(DataError::Parameter {
                name: name.into(),
                reason,
            })
        };
        let all = [
            self.area_m2,
            self.efficiency,
            self.battery_wh,
            self.reserve_wh,
            self.initial_wh,
            self.inverter_w,
            self.grid_w,
        ];
        if all.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return bad("every value must be a finite number ≥ 0".into());
        }
        if self.efficiency > 1.0 {
            return bad(format!("efficiency {} is above 1", self.efficiency));
        }
        if self.reserve_wh > self.battery_wh || self.initial_wh > self.battery_wh {
            return bad("the reserve and the initial charge must fit in the battery".into());
        }
        Ok(())
    }
}

/// Mean daily insolation of a pool, kWh/m² (the figure arrays are sized on).
fn mean_insolation_kwh(pool: &[Series]) -> f64 {
    let (sum, n) = pool
        .iter()
        .flat_map(|s| &s.values)
        .fold((0.0, 0usize), |(s, n), &v| (s + f64::from(v), n + 1));
    if n == 0 {
        0.0
    } else {
        sum / n as f64 * 24.0 / 1_000.0
    }
}

/// One sky for a whole site: the irradiance anchor and its budget.
pub(crate) fn solar_budget(
    draw: &SeriesDraw<'_>,
    grid: &Grid,
    spec: &SolarSpec,
    rng: &mut ChaCha8Rng,
) -> (SolarBattery, String) {
    let (sun, a) = draw.draw(rng);
    (
        spec.budget(sun, a, grid),
        format!(
            "{} from {} ({:.0} m² at {:.0} %, battery {:.1} kWh, inverter {:.1} kW)",
            sun.name,
            format_minute(a),
            spec.area_m2,
            spec.efficiency * 100.0,
            spec.battery_wh / 1_000.0,
            spec.inverter_w / 1_000.0
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// neighbourhood

/// What a house holds besides its household load (in port order after it), with the share
/// of houses that have it in the run and its priority. An EV, washer or dishwasher counts only when it has a
/// job in the run, so these are daily rates: 45 % of houses run the washer on a given day
/// (UK homes run 4–5 loads a week), 40 % the dishwasher (half the houses own one, most run it
/// daily), 30 % charge a car (the Trondheim users plug in every two to three days), 30 % heat
/// water electrically, 8 % filter a pool, 2 % keep an oxygen concentrator.
const HOUSE_DEVICES: [(&str, f64, Priority); 6] = [
    ("medical", 0.02, Priority::Critical),
    ("water-heater", 0.30, Priority::High),
    ("ev", 0.30, Priority::Normal),
    ("washer", 0.45, Priority::Normal),
    ("dishwasher", 0.40, Priority::Normal),
    ("pool-pump", 0.08, Priority::Low),
];

/// A house's main fuse: 63 A at 230 V, W.
pub const HOUSE_RATING_W: f64 = 14_490.0;
/// Houses per feeder.
pub const HOUSES_PER_FEEDER: usize = 40;
/// A feeder's rating per house (after-diversity maximum demand), W.
pub const FEEDER_W_PER_HOUSE: f64 = 2_000.0;
/// The site inverter's rating per house, W.
pub const INVERTER_W_PER_HOUSE: f64 = 1_200.0;
/// Oxygen concentrator, W.
pub const MEDICAL_W: f64 = 350.0;
/// Variable-speed pool pump: least and most power, W, and its daily filtering window.
pub const POOL_PUMP: (f64, f64, Minute, u32) = (300.0, 1_100.0, 9 * 60, 6);
/// Water heaters may be throttled to a tenth of their element (burst-fire control).
pub const WATER_HEATER_MIN_SHARE: f64 = 0.1;
/// Array efficiency for the street: 20 % modules, 10 % inverter, wiring and heat losses.
pub const STREET_PV_EFFICIENCY: f64 = 0.18;
/// The street's battery holds this many days of the energy its devices ask (days of
/// autonomy: one is the least a stand-alone design takes; guides ask two to five for the
/// essential load). Half a day left the households short every night on the samples: on
/// 1,000 devices even the full-knowledge schedule lost 321 kWh of their own load, so every
/// welfare there was negative and no ratio to the optimum meant anything.
pub const STREET_AUTONOMY_DAYS: f64 = 1.0;

/// An off-grid street of houses (see the module docs for the devices).
///
/// **Sizing rule** (from the built devices, so that coordination matters): the array's mean
/// daily production over the irradiance data (the samples' autumn, or all years of a data
/// directory) equals the energy the devices ask per day, unconstrained; the battery holds
/// a day of that energy ([`STREET_AUTONOMY_DAYS`]), keeps 10 % in reserve and starts half
/// full at noon; the inverter carries 1.2 kW per house and each feeder 2 kW per house
/// (an after-diversity demand LV cables are laid for). Measured on the samples, the
/// household load alone peaks near 0.9 kW per house and fits; when every EV and appliance
/// starts as soon as it can, the street peaks at 1.6–1.8 kW per house and single feeders at
/// up to 2.7 kW per house, so both levels need coordination.
pub fn neighbourhood(lib: &Library, opts: &BuildOptions) -> Result<Fleet> {
    let grid = ScenarioKind::Neighbourhood.grid(opts)?;
    let homes = SeriesDraw::new(&lib.households, &grid, grid.history_days, "household load")?;
    let heaters = SeriesDraw::new(&lib.water_heaters, &grid, 0, "water heaters")?;
    let evs = EvDraw::new(&lib.ev, &grid)?;
    let washers = CycleDraw::new(&lib.cycles, Appliance::Washer, &grid)?;
    let dishwashers = CycleDraw::new(&lib.cycles, Appliance::Dishwasher, &grid)?;
    let sun = SeriesDraw::new(&lib.irradiance, &grid, SOLAR_HISTORY_DAYS, "irradiance")?;
    let heater_max = lib
        .water_heaters
        .iter()
        .map(Series::max)
        .fold(0.0, f64::max);
    let deadlines = Deadlines::default();
    let width = digits(opts.devices);
    let mut houses: Vec<Vec<(String, Priority, SimKind, String)>> = Vec::new();
    let mut count = 0;
    while count < opts.devices {
        let mut rng = rng_for(opts.seed, 1, houses.len() as u64);
        let (base, note) = base_from(&homes, &grid, &mut rng, &|w| w);
        let mut devs = vec![("base".to_string(), Priority::Critical, base, note)];
        for (kind, share, priority) in HOUSE_DEVICES {
            if rng.random::<f64>() >= share {
                continue;
            }
            let (sim, note) = match kind {
                "medical" => timer_elastic(&grid, &mut rng, MEDICAL_W, MEDICAL_W, 0, 24),
                "water-heater" => elastic_from(
                    &heaters,
                    &grid,
                    &mut rng,
                    &|w| w,
                    heater_max * WATER_HEATER_MIN_SHARE,
                    heater_max,
                ),
                "ev" => ev_jobs(&evs, &grid, &mut rng)?,
                "washer" => cycle_jobs(&washers, &grid, &mut rng, &deadlines)?,
                "dishwasher" => cycle_jobs(&dishwashers, &grid, &mut rng, &deadlines)?,
                _ => {
                    let (lo, hi, on, hours) = POOL_PUMP;
                    timer_elastic(&grid, &mut rng, lo, hi, on, hours)
                }
            };
            devs.push((kind.to_string(), priority, sim, note));
        }
        devs.truncate(opts.devices - count);
        count += devs.len();
        houses.push(devs);
    }
    let mut circuits = vec![site_root()];
    let mut devices = Vec::with_capacity(opts.devices);
    for (f, street) in houses.chunks_mut(HOUSES_PER_FEEDER).enumerate() {
        let feeder = format!("feeder-{:02}", f + 1);
        circuits.push(CircuitSpec {
            name: feeder.clone(),
            parent: Some("site".into()),
            rating_mw: mw(FEEDER_W_PER_HOUSE * street.len() as f64),
        });
        for (k, devs) in street.iter_mut().enumerate() {
            let house = format!("house-{:0width$}", f * HOUSES_PER_FEEDER + k + 1);
            circuits.push(CircuitSpec {
                name: house.clone(),
                parent: Some(feeder.clone()),
                rating_mw: mw(HOUSE_RATING_W),
            });
            for (port, (kind, priority, sim, source)) in devs.drain(..).enumerate() {
                devices.push(device(
                    &format!("{house}.{kind}"),
                    &house,
                    priority,
                    port as u32 + 1,
                    sim,
                    source,
                )?);
            }
        }
    }
    let asked_wh_per_day = energy_asked_mwh(&devices, grid.slots(), grid.slot_ms()) as f64
        / 1_000.0
        / f64::from(grid.days);
    let insolation = mean_insolation_kwh(&lib.irradiance);
    let battery_wh = asked_wh_per_day * STREET_AUTONOMY_DAYS;
    let spec = SolarSpec {
        area_m2: if insolation > 0.0 {
            asked_wh_per_day / 1_000.0 / (insolation * STREET_PV_EFFICIENCY)
        } else {
            0.0
        },
        efficiency: STREET_PV_EFFICIENCY,
        battery_wh,
        reserve_wh: battery_wh * 0.1,
        initial_wh: battery_wh * 0.5,
        inverter_w: INVERTER_W_PER_HOUSE * houses.len() as f64,
        grid_w: 0.0,
    };
    circuits[0].rating_mw = mw(spec.inverter_w);
    let (budget, sun_note) = solar_budget(&sun, &grid, &spec, &mut rng_for(opts.seed, 2, 0));
    let mut provenance = lib.provenance.clone();
    provenance.push(format!("site budget: {sun_note}"));
    ScenarioKind::Neighbourhood.fleet(
        &grid,
        circuits,
        vec![("site".into(), BudgetSource::SolarBattery(budget))],
        devices,
        provenance,
    )
}

fn digits(n: usize) -> usize {
    n.to_string().len().max(4)
}

pub(crate) fn check_count(devices: usize) -> Result<()> {
    if devices == 0 || devices > limits::MAX_DEVICES {
        return Err(DataError::Parameter {
            name: "devices".into(),
            reason: format!("{devices} is not 1 to {}", limits::MAX_DEVICES),
        });
    }
    Ok(())
}

pub(crate) fn device(
    id: &str,
    circuit: &str,
    priority: Priority,
    port: u32,
    kind: SimKind,
    source: String,
) -> Result<SimDevice> {
    Ok(SimDevice {
        id: DeviceId::new(id).map_err(|e| DataError::Parameter {
            name: format!("device id {id:?}"),
            reason: e.to_string(),
        })?,
        circuit: circuit.into(),
        priority,
        port,
        kind,
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// poe-switch

/// A port's device: kind, class, priority.
type PortPlan = (&'static str, u8, Priority);

/// An 802.3at access switch: 10 phones, 6 cameras, 8 access points; the sum of their classes
/// is 402 W, its budget 195 W (the budget of common 24-port PoE+ access switches).
const ACCESS_SWITCH: (PoeStandard, f64, [(PortPlan, usize); 3]) = (
    PoeStandard::At,
    195.0,
    [
        (("phone", 2, Priority::Critical), 10),
        (("camera", 3, Priority::High), 6),
        (("ap", 4, Priority::Normal), 8),
    ],
);

/// An 802.3bt server switch: 8 small servers (class 8), 8 access points, 4 cameras, 4
/// phones; the sum of classes is 1,050 W, its budget 400 W.
const SERVER_SWITCH: (PoeStandard, f64, [(PortPlan, usize); 4]) = (
    PoeStandard::Bt,
    400.0,
    [
        (("server", 8, Priority::Low), 8),
        (("ap", 4, Priority::Normal), 8),
        (("camera", 3, Priority::High), 4),
        (("phone", 2, Priority::Critical), 4),
    ],
);

/// VoIP phone, W (datasheets give 3–4 W in use).
pub const PHONE_W: f64 = 3.5;
/// Camera by day and at night with its infrared lamps on, W.
pub const CAMERA_W: (f64, f64) = (4.5, 8.0);
/// Cameras switch their infrared on below this irradiance, W/m².
pub const DARK_W_M2: f64 = 20.0;
/// Wi-Fi access point: idle and full load, W (a Wi-Fi 6 AP's datasheet maximum is ~21 W).
pub const AP_W: (f64, f64) = (9.0, 21.0);
/// Small server on a class-8 port: idle and full load, W. Power = idle + (max − idle) · CPU.
pub const SERVER_W: (f64, f64) = (15.0, 60.0);

fn port_priority(p: Priority) -> PortPriority {
    match p {
        Priority::Critical => PortPriority::Critical,
        Priority::High => PortPriority::High,
        Priority::Normal | Priority::Low => PortPriority::Low,
    }
}

/// PoE switches, alternating the access and the server switch above, filled port by port
/// until `devices` are placed (the last switch may be part full). Phones and cameras are
/// uncontrollable (a camera's infrared follows darkness in the irradiance trace); access
/// points and servers are elastic loads whose wish follows a server's CPU trace (NAB,
/// UTC taken as the site's clock) as idle + (max − idle) · CPU, between idle and max. The
/// root `site` (the rack's supply) is rated at the sum of the switch budgets, so the switch
/// budgets bind.
pub fn poe_switch(lib: &Library, opts: &BuildOptions) -> Result<Fleet> {
    let grid = ScenarioKind::PoeSwitch.grid(opts)?;
    let cpu = SeriesDraw::new(&lib.servers, &grid, 0, "server CPU")?;
    let dark = SeriesDraw::new(&lib.irradiance, &grid, grid.history_days, "irradiance")?;
    let mut circuits = vec![site_root()];
    let mut devices = Vec::with_capacity(opts.devices);
    let mut total_budget = 0;
    let mut s = 0;
    while devices.len() < opts.devices {
        let (standard, budget_w, plan): (PoeStandard, f64, Vec<(PortPlan, usize)>) = if s % 2 == 0 {
            (ACCESS_SWITCH.0, ACCESS_SWITCH.1, ACCESS_SWITCH.2.to_vec())
        } else {
            (SERVER_SWITCH.0, SERVER_SWITCH.1, SERVER_SWITCH.2.to_vec())
        };
        let ports: Vec<PortPlan> = plan
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .take(opts.devices - devices.len())
            .collect();
        let switch = PoeSwitch::new(
            standard,
            mw(budget_w),
            &ports
                .iter()
                .map(|&(_, class, pr)| (class, port_priority(pr)))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| DataError::Parameter {
            name: "PoE switch".into(),
            reason: e.to_string(),
        })?;
        let name = format!("switch-{:03}", s + 1);
        circuits.extend(switch.circuits(&name, Some("site")));
        total_budget += switch.budget_mw();
        for (p, &(kind, _, priority)) in ports.iter().enumerate() {
            let port = p as u32 + 1;
            let mut rng = rng_for(opts.seed, 3, (s * 64 + p) as u64);
            let (sim, note) = match kind {
                "phone" => {
                    let f = scale(&mut rng);
                    let h = grid.history_days as usize * grid.per_day();
                    (
                        SimKind::Base {
                            actual_mw: vec![mw(PHONE_W * f); grid.slots()],
                            history_mw: vec![mw(PHONE_W * f); h],
                        },
                        format!("device model: {:.2} W", PHONE_W * f),
                    )
                }
                "camera" => {
                    let night = |g: f64| {
                        if g < DARK_W_M2 {
                            CAMERA_W.1
                        } else {
                            CAMERA_W.0
                        }
                    };
                    let (sim, note) = base_from(&dark, &grid, &mut rng, &night);
                    (
                        sim,
                        format!(
                            "device model: {}/{} W by day/night, darkness from {note}",
                            CAMERA_W.0, CAMERA_W.1
                        ),
                    )
                }
                "ap" => elastic_from(
                    &cpu,
                    &grid,
                    &mut rng,
                    &|c| AP_W.0 + (AP_W.1 - AP_W.0) * c / 100.0,
                    AP_W.0,
                    AP_W.1,
                ),
                _ => elastic_from(
                    &cpu,
                    &grid,
                    &mut rng,
                    &|c| SERVER_W.0 + (SERVER_W.1 - SERVER_W.0) * c / 100.0,
                    SERVER_W.0,
                    SERVER_W.1,
                ),
            };
            let circuit = format!("{name}.port-{port}");
            devices.push(device(
                &format!("{circuit}.{kind}"),
                &circuit,
                priority,
                port,
                sim,
                note,
            )?);
        }
        s += 1;
    }
    circuits[0].rating_mw = total_budget;
    ScenarioKind::PoeSwitch.fleet(&grid, circuits, Vec::new(), devices, lib.provenance.clone())
}

// ---------------------------------------------------------------------------------------------
// sensor-field

/// Nodes per hub.
pub const NODES_PER_HUB: usize = 25;
/// A node (the harvest crate's Golden node): 20 mW at its least duty cycle (10 %), 300 mW at
/// full duty; its panel at 15 %; a 7.4 Wh battery with a 10 % floor.
pub const NODE: (f64, f64, f64, f64) = (0.020, 0.300, 0.15, 7.4);
/// A node's panel is sized so that its mean daily harvest equals its energy at this duty
/// cycle: the field cannot run every node at full duty, so the duty cycles must be shared.
pub const NODE_NEUTRAL_DUTY: f64 = 0.6;
/// Node classes: name, share, priority, least duty cycle (0.1–1).
const NODE_CLASSES: [(&str, f64, Priority, f64); 4] = [
    ("relay", 0.04, Priority::Critical, 0.5),
    ("alarm", 0.10, Priority::High, 0.1),
    ("monitor", 0.76, Priority::Normal, 0.1),
    ("logger", 0.10, Priority::Low, 0.1),
];

/// Power of a node at a duty cycle, W (linear between the least and full duty).
fn node_w(duty: f64) -> f64 {
    let (p_min, p_max) = (NODE.0, NODE.1);
    p_min + (p_max - p_min) * (duty - 0.1) / 0.9
}

/// Sensor nodes in hubs of 25 on 15-minute slots from midnight. Each hub pools its nodes'
/// panels and batteries (area, battery and inverter are the sums of its nodes'; reserve the
/// 10 % floor; half charged at midnight) into a [`SolarBattery`] under one sky. A node's
/// panel harvests, on the mean day of the irradiance data, what the node uses at 60 % duty
/// (about 7 × 7 cm in the samples' Colorado autumn). A node's duty
/// cycle is an elastic load from its class's least duty to full duty, and it always wants
/// full duty (Kansal's nodes take every duty cycle the energy allows); class shares: 4 %
/// relays (critical, at least 50 % duty: they carry the others' packets), 10 % alarms
/// (high), 76 % monitoring (normal), 10 % bulk loggers (low). Each node's power is scaled by
/// 0.95–1.05. The root `site` is rated at the sum of the hubs' inverters.
pub fn sensor_field(lib: &Library, opts: &BuildOptions) -> Result<Fleet> {
    let grid = ScenarioKind::SensorField.grid(opts)?;
    let sun = SeriesDraw::new(&lib.irradiance, &grid, SOLAR_HISTORY_DAYS, "irradiance")?;
    let hubs = opts.devices.div_ceil(NODES_PER_HUB);
    let mut circuits = vec![site_root()];
    let mut budgets = Vec::with_capacity(hubs);
    let mut devices = Vec::with_capacity(opts.devices);
    let mut sky = rng_for(opts.seed, 4, 0);
    let (sun_series, a) = sun.draw(&mut sky);
    let insolation = mean_insolation_kwh(&lib.irradiance);
    let node_area = if insolation > 0.0 {
        node_w(NODE_NEUTRAL_DUTY) * 24.0 / (insolation * 1_000.0 * NODE.2)
    } else {
        0.0
    };
    let mut total = 0;
    for h in 0..hubs {
        let hub = format!("hub-{:04}", h + 1);
        let nodes = NODES_PER_HUB.min(opts.devices - h * NODES_PER_HUB);
        let mut max_sum = 0;
        for n in 0..nodes {
            let mut rng = rng_for(opts.seed, 5, (h * NODES_PER_HUB + n) as u64);
            let pick: f64 = rng.random();
            let mut acc = 0.0;
            let &(class, _, priority, duty) = NODE_CLASSES
                .iter()
                .find(|c| {
                    acc += c.1;
                    pick < acc
                })
                .unwrap_or(&NODE_CLASSES[2]);
            let f = scale(&mut rng);
            let (lo, hi) = (node_w(duty) * f, NODE.1 * f);
            max_sum += mw(hi);
            devices.push(device(
                &format!("{hub}.{class}-{:02}", n + 1),
                &hub,
                priority,
                n as u32 + 1,
                SimKind::Elastic {
                    min_mw: mw(lo),
                    max_mw: mw(hi),
                    desired_mw: vec![mw(hi); grid.slots()],
                    history_mw: vec![mw(hi); grid.history_days as usize * grid.per_day()],
                },
                format!(
                    "device model: duty {:.0}–100 % = {lo:.3}–{hi:.3} W",
                    duty * 100.0
                ),
            )?);
        }
        let k = nodes as f64;
        let spec = SolarSpec {
            area_m2: node_area * k,
            efficiency: NODE.2,
            battery_wh: NODE.3 * k,
            reserve_wh: NODE.3 * k * 0.1,
            initial_wh: NODE.3 * k * 0.5,
            inverter_w: max_sum as f64 / 1_000.0,
            grid_w: 0.0,
        };
        let budget = spec.budget(sun_series, a, &grid);
        total += budget.inverter_mw;
        circuits.push(CircuitSpec {
            name: hub.clone(),
            parent: Some("site".into()),
            rating_mw: budget.inverter_mw,
        });
        budgets.push((hub, BudgetSource::SolarBattery(budget)));
    }
    circuits[0].rating_mw = total;
    let mut provenance = lib.provenance.clone();
    provenance.push(format!(
        "hub budgets: {} from {} ({NODES_PER_HUB} nodes' panels of {:.1} cm² and batteries each)",
        sun_series.name,
        format_minute(a),
        node_area * 1e4
    ));
    ScenarioKind::SensorField.fleet(&grid, circuits, budgets, devices, provenance)
}

// ---------------------------------------------------------------------------------------------
// Checks and figures

/// Circuit names to their index (the tree's own lookup is a linear search).
fn circuit_index(tree: &CircuitTree) -> HashMap<&str, usize> {
    (0..tree.len()).map(|c| (tree.name(c as u32), c)).collect()
}

/// Checks a fleet against the protocol's rules: the circuit tree, budgets on known circuits
/// with non-negative values, unique valid ids on known circuits, every value per slot present
/// and in range, and every job a valid request (window inside the run, `arrival ≤ earliest <
/// deadline ≤ accept_until ≤ slots`, the demand fitting its window).
pub fn check(fleet: &Fleet) -> Result<()> {
    let fail = |name: String, reason: String| Err(DataError::Parameter { name, reason });
    if fleet.slots == 0 || fleet.slot_ms == 0 {
        return fail("fleet".into(), "no slots".into());
    }
    let tree = CircuitTree::new(fleet.circuits.clone()).map_err(|e| DataError::Parameter {
        name: "circuits".into(),
        reason: e.to_string(),
    })?;
    let index = circuit_index(&tree);
    let slots = fleet.slots as usize;
    let power_ok = |v: &[i64]| v.iter().all(|&p| (0..=limits::MAX_POWER_MW).contains(&p));
    for (name, b) in &fleet.budgets {
        if !index.contains_key(name.as_str()) {
            return fail(format!("budget of {name}"), "no such circuit".into());
        }
        let ok = match b {
            BudgetSource::Fixed => true,
            BudgetSource::Curve(c) => !c.is_empty() && power_ok(c),
            BudgetSource::SolarBattery(s) => {
                s.production_mw.len() == slots
                    && power_ok(&s.production_mw)
                    && power_ok(&s.history_mw)
                    && power_ok(&[s.battery_mwh, s.inverter_mw, s.grid_mw])
                    && (0..=s.battery_mwh).contains(&s.reserve_mwh)
                    && (0..=s.battery_mwh).contains(&s.initial_mwh)
            }
        };
        if !ok {
            return fail(
                format!("budget of {name}"),
                "a value is negative, too large, or missing for some slot".into(),
            );
        }
    }
    if fleet.devices.len() > limits::MAX_DEVICES {
        return fail(
            "devices".into(),
            format!(
                "{} is more than {}",
                fleet.devices.len(),
                limits::MAX_DEVICES
            ),
        );
    }
    let mut ids = HashSet::with_capacity(fleet.devices.len());
    for d in &fleet.devices {
        let name = format!("device {}", d.id);
        if !ids.insert(d.id.as_str()) {
            return fail(name, "the id is used twice".into());
        }
        if !index.contains_key(d.circuit.as_str()) {
            return fail(name, format!("no circuit {:?}", d.circuit));
        }
        match &d.kind {
            SimKind::Base {
                actual_mw,
                history_mw,
            } => {
                if actual_mw.len() != slots || !power_ok(actual_mw) || !power_ok(history_mw) {
                    return fail(name, "its load must be one power ≥ 0 per slot".into());
                }
            }
            SimKind::Elastic {
                min_mw,
                max_mw,
                desired_mw,
                history_mw,
            } => {
                Demand::PowerEnvelope {
                    min_mw: *min_mw,
                    max_mw: *max_mw,
                }
                .validate(0, 1, fleet.slot_ms)
                .map_err(|e| DataError::Parameter {
                    name: name.clone(),
                    reason: e.to_string(),
                })?;
                if desired_mw.len() != slots || !power_ok(desired_mw) || !power_ok(history_mw) {
                    return fail(name, "its wish must be one power ≥ 0 per slot".into());
                }
            }
            SimKind::Jobs(jobs) => {
                for (k, j) in jobs.iter().enumerate() {
                    let name = format!("{name}, job {}", k + 1);
                    if !(j.arrival <= j.earliest
                        && j.earliest < j.deadline
                        && j.deadline <= j.accept_until
                        && j.accept_until <= fleet.slots)
                    {
                        return fail(
                            name,
                            format!(
                                "arrival {}, earliest {}, deadline {}, accept until {} must \
                                 increase inside the run's {} slots",
                                j.arrival, j.earliest, j.deadline, j.accept_until, fleet.slots
                            ),
                        );
                    }
                    let demand = match &j.work {
                        Work::Cycle {
                            actual_mw,
                            past_runs,
                            interruptible,
                        } => {
                            if !past_runs.iter().all(|r| power_ok(r)) {
                                return fail(name, "a past run has a bad power".into());
                            }
                            Demand::PowerProfile {
                                profile: actual_mw.iter().map(|&p| PowerValue::exact(p)).collect(),
                                interruptible: *interruptible,
                                min_on_slots: 0,
                                min_off_slots: 0,
                            }
                        }
                        Work::Energy {
                            energy_mwh,
                            min_mw,
                            max_mw,
                        } => Demand::EnergyTarget {
                            energy_mwh: *energy_mwh,
                            min_mw: *min_mw,
                            max_mw: *max_mw,
                        },
                    };
                    demand
                        .validate(j.earliest, j.deadline, fleet.slot_ms)
                        .map_err(|e| DataError::Parameter {
                            name,
                            reason: e.to_string(),
                        })?;
                }
            }
        }
    }
    Ok(())
}

/// What a device would draw per slot in the first `slots` slots if it ran as soon as it could
/// (an EV at its maximum from plug-in until charged, an elastic load its wish, capped at its
/// maximum).
pub fn uncoordinated_mw(kind: &SimKind, slots: usize, slot_ms: u64) -> Vec<i64> {
    let mut out = vec![0i64; slots];
    match kind {
        SimKind::Base { actual_mw, .. } => {
            out.iter_mut().zip(actual_mw).for_each(|(o, &p)| *o = p);
        }
        SimKind::Elastic {
            max_mw, desired_mw, ..
        } => {
            out.iter_mut()
                .zip(desired_mw)
                .for_each(|(o, &p)| *o = p.min(*max_mw));
        }
        SimKind::Jobs(jobs) => {
            for j in jobs {
                match &j.work {
                    Work::Cycle { actual_mw, .. } => {
                        for (k, &p) in actual_mw.iter().enumerate() {
                            if let Some(o) = out.get_mut(j.earliest as usize + k) {
                                *o += p;
                            }
                        }
                    }
                    Work::Energy {
                        energy_mwh, max_mw, ..
                    } => {
                        // mWh per slot at full power; the last slot gets what is left.
                        let per_slot =
                            (i128::from(*max_mw) * i128::from(slot_ms) / 3_600_000).max(1) as i64;
                        let mut left = *energy_mwh;
                        // `slots` may end before the job's window (a run cut short).
                        let hi = (j.deadline as usize).min(out.len());
                        let lo = (j.earliest as usize).min(hi);
                        for o in &mut out[lo..hi] {
                            if left <= 0 {
                                break;
                            }
                            let e = left.min(per_slot);
                            *o += (i128::from(e) * 3_600_000 / i128::from(slot_ms)) as i64;
                            left -= e;
                        }
                    }
                }
            }
        }
    }
    out
}

/// Energy the devices ask over the run, unconstrained, mWh.
fn energy_asked_mwh(devices: &[SimDevice], slots: usize, slot_ms: u64) -> i64 {
    devices
        .iter()
        .map(|d| match &d.kind {
            SimKind::Jobs(jobs) => jobs
                .iter()
                .map(|j| match &j.work {
                    Work::Energy { energy_mwh, .. } => *energy_mwh,
                    Work::Cycle { actual_mw, .. } => slots_mwh(actual_mw.iter().sum(), slot_ms),
                })
                .sum(),
            other => slots_mwh(
                uncoordinated_mw(other, slots, slot_ms).iter().sum(),
                slot_ms,
            ),
        })
        .sum()
}

fn slots_mwh(sum_mw: i64, slot_ms: u64) -> i64 {
    (i128::from(sum_mw) * i128::from(slot_ms) / 3_600_000) as i64
}

/// Figures about a fleet, before any mechanism runs.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSummary {
    /// Devices.
    pub devices: usize,
    /// Devices per kind (the last part of the id, without numbers).
    pub by_kind: BTreeMap<String, usize>,
    /// Devices per priority, highest first.
    pub by_priority: Vec<(Priority, usize)>,
    /// Deferrable jobs.
    pub jobs: usize,
    /// Energy asked per day, unconstrained, kWh.
    pub asked_kwh_per_day: f64,
    /// Of which uncontrollable, kWh per day.
    pub base_kwh_per_day: f64,
    /// Energy the budgets offer per day: solar production, kWh (0 without a solar budget).
    pub solar_kwh_per_day: f64,
    /// Battery usable above the reserve, kWh (summed over solar budgets).
    pub battery_kwh: f64,
    /// Peak of the uncoordinated sum at the root, kW.
    pub uncoordinated_peak_kw: f64,
    /// The root's rating, kW.
    pub root_rating_kw: f64,
    /// Circuits whose uncoordinated peak exceeds their rating, and circuits in all.
    pub circuits_over_rating: (usize, usize),
}

/// Measures a fleet (see [`FleetSummary`]).
pub fn summarize(fleet: &Fleet) -> Result<FleetSummary> {
    let tree = CircuitTree::new(fleet.circuits.clone()).map_err(|e| DataError::Parameter {
        name: "circuits".into(),
        reason: e.to_string(),
    })?;
    let index = circuit_index(&tree);
    let slots = fleet.slots as usize;
    let days = slots as f64 * fleet.slot_ms as f64 / 86_400_000.0;
    let mut by_kind = BTreeMap::new();
    let mut by_priority: BTreeMap<Priority, usize> = BTreeMap::new();
    let mut on_circuit: Vec<Vec<usize>> = vec![Vec::new(); tree.len()];
    let mut jobs = 0;
    let mut base_mwh = 0;
    for (i, d) in fleet.devices.iter().enumerate() {
        let last = d.id.as_str().rsplit('.').next().unwrap_or("");
        let kind = last.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        *by_kind.entry(kind.to_string()).or_insert(0) += 1;
        *by_priority.entry(d.priority).or_insert(0) += 1;
        if let Some(&c) = index.get(d.circuit.as_str()) {
            on_circuit[c].push(i);
        }
        match &d.kind {
            SimKind::Jobs(j) => jobs += j.len(),
            SimKind::Base { actual_mw, .. } => {
                base_mwh += slots_mwh(actual_mw.iter().sum(), fleet.slot_ms)
            }
            SimKind::Elastic { .. } => {}
        }
    }
    // Children before parents; a parent's sum lives only until it is measured.
    let mut sums: Vec<Option<Vec<i64>>> = vec![None; tree.len()];
    let mut over = 0;
    let mut root_peak = 0;
    for c in (0..tree.len()).rev() {
        let mut load = sums[c].take().unwrap_or_else(|| vec![0; slots]);
        for &i in &on_circuit[c] {
            let u = uncoordinated_mw(&fleet.devices[i].kind, slots, fleet.slot_ms);
            load.iter_mut().zip(u).for_each(|(l, p)| *l += p);
        }
        let peak = load.iter().copied().max().unwrap_or(0);
        over += usize::from(peak > tree.rating(c as u32));
        match tree.parent(c as u32) {
            Some(p) => {
                let parent = sums[p as usize].get_or_insert_with(|| vec![0; slots]);
                parent.iter_mut().zip(&load).for_each(|(a, b)| *a += b);
            }
            None => root_peak = peak,
        }
    }
    let (mut solar_mwh, mut battery_mwh) = (0, 0);
    for (_, b) in &fleet.budgets {
        if let BudgetSource::SolarBattery(s) = b {
            solar_mwh += slots_mwh(s.production_mw.iter().sum(), fleet.slot_ms);
            battery_mwh += s.battery_mwh - s.reserve_mwh;
        }
    }
    Ok(FleetSummary {
        devices: fleet.devices.len(),
        by_kind,
        by_priority: by_priority.into_iter().rev().collect(),
        jobs,
        asked_kwh_per_day: energy_asked_mwh(&fleet.devices, slots, fleet.slot_ms) as f64
            / 1e6
            / days,
        base_kwh_per_day: base_mwh as f64 / 1e6 / days,
        solar_kwh_per_day: solar_mwh as f64 / 1e6 / days,
        battery_kwh: battery_mwh as f64 / 1e6,
        uncoordinated_peak_kw: root_peak as f64 / 1e6,
        root_rating_kw: tree.rating(0) as f64 / 1e6,
        circuits_over_rating: (over, tree.len()),
    })
}

impl std::fmt::Display for FleetSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |m: &mut dyn Iterator<Item = (String, usize)>| {
            m.map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            f,
            "devices: {} ({} deferrable jobs)",
            self.devices, self.jobs
        )?;
        writeln!(
            f,
            "  by kind: {}",
            list(&mut self.by_kind.iter().map(|(k, n)| (k.clone(), *n)))
        )?;
        writeln!(
            f,
            "  by priority: {}",
            list(&mut self.by_priority.iter().map(|(p, n)| (p.to_string(), *n)))
        )?;
        writeln!(
            f,
            "energy asked: {:.1} kWh/day (uncontrollable {:.1}); solar {:.1} kWh/day, battery {:.1} kWh usable",
            self.asked_kwh_per_day, self.base_kwh_per_day, self.solar_kwh_per_day, self.battery_kwh
        )?;
        write!(
            f,
            "uncoordinated peak {:.1} kW against the root's {:.1} kW; {} of {} circuits over their rating",
            self.uncoordinated_peak_kw,
            self.root_rating_kw,
            self.circuits_over_rating.0,
            self.circuits_over_rating.1
        )
    }
}
