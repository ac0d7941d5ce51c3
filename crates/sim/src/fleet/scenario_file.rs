//! Scenario files: a user describes their own site in TOML — its circuits and ratings, where
//! each circuit's budget comes from, and groups of devices with counts and the CSV files of
//! the same kinds as the shared data sets to draw from — and gets a [`Fleet`] built by the
//! same device makers as the built-in scenarios ([`super::population`]).
//!
//! `examples/fleet-site.toml` is a complete, commented example. The format:
//!
//! ```toml
//! name = "my-street"        # default: the file's name
//! slot_minutes = 15         # divides a day, at most 60
//! start = "12:00"           # local time of slot 0
//! days = 1
//! history_days = 3          # history of uncontrollable loads for their forecasters
//! seed = 1
//! data = "../shared/data"   # where groups without `files` draw from; default: the samples
//!
//! [[circuit]]               # the root has no parent
//! name = "site"
//! rating_kw = 30.0
//!
//! [[budget]]                # circuits without a budget keep their rating
//! circuit = "site"
//! kind = "solar-battery"    # or "fixed", or "curve" with kw = [..] per slot (the last holds)
//! array_m2 = 60.0
//! efficiency = 0.18
//! battery_kwh = 40.0
//! reserve_kwh = 4.0
//! initial_kwh = 20.0
//! inverter_kw = 30.0        # default: the circuit's rating
//! irradiance = "my_pyranometer.csv"   # optional, columns timestamp and poa_irradiance_w_m2
//!
//! [[group]]
//! kind = "ev"               # base | ev | washer | dishwasher | water-heater | cpu | elastic | constant
//! count = 4
//! circuits = ["house-1", "house-2"]   # devices are placed round-robin
//! priority = "normal"       # default by kind (see below)
//! files = ["my_sessions.csv"]         # optional: default data of the kind
//! ```
//!
//! Kinds, their files and parameters (paths are relative to the scenario file):
//!
//! | kind | files | parameters | default priority |
//! | --- | --- | --- | --- |
//! | `base` | SGSC long format (`customer_id`, `reading_datetime`, `general_supply_kwh`), or any series with `time_column`, `value_column`, `unit` | — | critical |
//! | `ev` | Trondheim layout (`User_ID`, `Start_plugin`, `El_kWh`, `Duration_hours` or `End_plugout`; `;` and decimal commas allowed) | `clock = "eu-summer-time"` (default) or `"standard"` | normal |
//! | `washer`, `dishwasher` | UK 1-minute files (`Time`, `WashingMachine`/`Dishwasher`, `Aggregate`; gzip allowed), or cut cycles (`appliance,house,start,power_w`) | `finish_within_h = [2, 10]`, `accept_later_h = [0, 4]` | normal |
//! | `water-heater` | a series (`value_column`, `unit`) | `min_w`, `max_w` (default: a tenth of the trace's peak, its peak) | high |
//! | `cpu` | a CPU series (`timestamp`, `value` in %) | `idle_w`, `max_w`: power = idle + (max − idle) · CPU | normal |
//! | `elastic` | — | `min_w`, `max_w`; `on = "HH:MM"` and `hours` for a daily window (default: always) | normal |
//! | `constant` | — | `w` | critical |
//!
//! `unit` is one of `W`, `kW`, `Wh` or `kWh` (the last two per interval). Device ids are
//! `<circuit>.<name>-<n>` with `name` (default: the kind) and `n` counting the group's devices.
//! `--devices N` scales every group's count in proportion (each keeps at least one device);
//! `--days` and `--seed` replace the file's values. Errors name the file, line and column.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use powerslot_protocol::{CircuitSpec, Priority};
use serde::Deserialize;
use toml::Spanned;

use super::model::{BudgetSource, Fleet, SimKind};
use super::population::{
    self, CycleDraw, Deadlines, EvDraw, Grid, SOLAR_HISTORY_DAYS, SeriesDraw, SolarSpec,
};
use super::traces::{
    self, Appliance, Clock, DataError, DataSource, Library, Minute, Pool, Result, Series, Unit,
};

/// Values from the command line that replace the file's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Total devices: every group's count is scaled in proportion.
    pub devices: Option<usize>,
    /// Days simulated.
    pub days: Option<u32>,
    /// Seed.
    pub seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    name: Option<String>,
    slot_minutes: Option<u32>,
    start: Option<Spanned<String>>,
    days: Option<u32>,
    history_days: Option<u32>,
    seed: Option<u64>,
    data: Option<String>,
    #[serde(rename = "circuit")]
    circuits: Vec<Spanned<CircuitEntry>>,
    #[serde(default, rename = "budget")]
    budgets: Vec<Spanned<BudgetEntry>>,
    #[serde(default, rename = "group")]
    groups: Vec<Spanned<GroupEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CircuitEntry {
    name: String,
    parent: Option<String>,
    rating_kw: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetEntry {
    circuit: String,
    kind: String,
    kw: Option<Vec<f64>>,
    irradiance: Option<String>,
    time_column: Option<String>,
    value_column: Option<String>,
    array_m2: Option<f64>,
    efficiency: Option<f64>,
    battery_kwh: Option<f64>,
    reserve_kwh: Option<f64>,
    initial_kwh: Option<f64>,
    inverter_kw: Option<f64>,
    grid_kw: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupEntry {
    kind: String,
    name: Option<String>,
    count: usize,
    circuits: Vec<String>,
    priority: Option<String>,
    files: Option<Vec<String>>,
    time_column: Option<String>,
    value_column: Option<String>,
    id_column: Option<String>,
    unit: Option<String>,
    clock: Option<String>,
    finish_within_h: Option<[f64; 2]>,
    accept_later_h: Option<[f64; 2]>,
    min_w: Option<f64>,
    max_w: Option<f64>,
    idle_w: Option<f64>,
    w: Option<f64>,
    on: Option<String>,
    hours: Option<u32>,
}

/// Where an error is: the file and the text, to turn byte offsets into lines and columns.
struct Place<'a> {
    file: &'a str,
    text: &'a str,
}

impl Place<'_> {
    fn at(&self, offset: usize, reason: impl Into<String>) -> DataError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() as u64 + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        DataError::Parse {
            file: self.file.into(),
            line,
            column: column.to_string(),
            reason: reason.into(),
        }
    }

    fn on<T>(&self, item: &Spanned<T>, reason: impl Into<String>) -> DataError {
        self.at(item.span().start, reason)
    }
}

/// Reads and builds a scenario file.
pub fn load(path: &Path, overrides: &Overrides) -> Result<Fleet> {
    let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
        file: path.display().to_string(),
        source,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario");
    parse(&text, &path.display().to_string(), dir, stem, overrides)
}

/// Builds a scenario from its text; `file` names it in errors, relative paths start at `dir`,
/// and `stem` is the name when the file gives none.
pub fn parse(
    text: &str,
    file: &str,
    dir: &Path,
    stem: &str,
    overrides: &Overrides,
) -> Result<Fleet> {
    let place = Place { file, text };
    let spec: FileSpec = toml::from_str(text).map_err(|e| {
        place.at(
            e.span().map_or(0, |s| s.start),
            e.message().trim().to_string(),
        )
    })?;
    let start = match &spec.start {
        None => 0,
        Some(s) => clock_time(s.get_ref()).ok_or_else(|| place.on(s, "start must be HH:MM"))?,
    };
    let grid = Grid::new(
        spec.slot_minutes.unwrap_or(15),
        overrides.days.or(spec.days).unwrap_or(1),
        start,
        spec.history_days.unwrap_or(3),
    )
    .map_err(|e| place.at(0, e.to_string()))?;
    let seed = overrides.seed.or(spec.seed).unwrap_or(1);
    let source = match &spec.data {
        Some(d) => DataSource::Dir(dir.join(d)),
        None => DataSource::Samples,
    };

    let mut circuits = Vec::new();
    for c in &spec.circuits {
        let e = c.get_ref();
        if !(e.rating_kw.is_finite() && e.rating_kw >= 0.0) {
            return Err(place.on(c, format!("rating_kw {} must be ≥ 0", e.rating_kw)));
        }
        circuits.push(CircuitSpec {
            name: e.name.clone(),
            parent: e.parent.clone(),
            rating_mw: population::mw(e.rating_kw * 1_000.0),
        });
    }
    let tree = powerslot_protocol::CircuitTree::new(circuits.clone()).map_err(|e| {
        let at = spec.circuits.first().map_or(0, |c| c.span().start);
        place.at(at, e.to_string())
    })?;
    let rating = |name: &str| {
        (0..tree.len())
            .find(|&i| tree.name(i as u32) == name)
            .map(|i| tree.rating(i as u32))
    };

    // Default data, for the pools that groups and budgets draw from without files.
    let mut pools: Vec<Pool> = spec
        .groups
        .iter()
        .filter(|g| g.get_ref().files.is_none())
        .filter_map(|g| kind_pool(&g.get_ref().kind))
        .collect();
    if spec
        .budgets
        .iter()
        .any(|b| b.get_ref().kind == "solar-battery" && b.get_ref().irradiance.is_none())
    {
        pools.push(Pool::Irradiance);
    }
    let defaults = source.load(&pools)?;
    let mut provenance = defaults.provenance.clone();

    let mut budgets = Vec::new();
    for b in &spec.budgets {
        let e = b.get_ref();
        let Some(rated) = rating(&e.circuit) else {
            return Err(place.on(b, format!("no circuit {:?} for this budget", e.circuit)));
        };
        let source = match e.kind.as_str() {
            "fixed" => BudgetSource::Fixed,
            "curve" => {
                let kw =
                    e.kw.as_ref().filter(|k| !k.is_empty()).ok_or_else(|| {
                        place.on(b, "a curve needs kw = [..], one value per slot")
                    })?;
                if kw.iter().any(|v| !v.is_finite() || *v < 0.0) {
                    return Err(place.on(b, "every kw of a curve must be ≥ 0"));
                }
                BudgetSource::Curve(kw.iter().map(|v| population::mw(v * 1_000.0)).collect())
            }
            "solar-battery" => {
                let (sb, note) = solar(e, rated, dir, &defaults, &grid, seed)
                    .map_err(|err| place.on(b, err.to_string()))?;
                provenance.push(format!("budget of {}: {note}", e.circuit));
                BudgetSource::SolarBattery(sb)
            }
            other => {
                return Err(place.on(
                    b,
                    format!("budget kind {other:?} is not fixed, curve or solar-battery"),
                ));
            }
        };
        budgets.push((e.circuit.clone(), source));
    }

    let total: usize = spec.groups.iter().map(|g| g.get_ref().count).sum();
    let counts = scaled_counts(
        &spec
            .groups
            .iter()
            .map(|g| g.get_ref().count)
            .collect::<Vec<_>>(),
        overrides.devices.unwrap_or(total),
    );
    population::check_count(counts.iter().sum())
        .map_err(|e| place.at(0, format!("{e} (the groups' counts)")))?;
    let mut ports: std::collections::HashMap<String, u32> = Default::default();
    let mut devices = Vec::new();
    for (gi, (g, &count)) in spec.groups.iter().zip(&counts).enumerate() {
        let e = g.get_ref();
        for c in &e.circuits {
            if rating(c).is_none() {
                return Err(place.on(g, format!("no circuit {c:?} for this group")));
            }
        }
        if e.circuits.is_empty() {
            return Err(place.on(g, "a group needs at least one circuit"));
        }
        let priority = match &e.priority {
            Some(p) => Priority::parse(p).ok_or_else(|| {
                place.on(
                    g,
                    format!("priority {p:?} is not low, normal, high or critical"),
                )
            })?,
            None => default_priority(&e.kind),
        };
        let data = group_data(e, dir, &defaults)
            .map_err(|err| place.on(g, format!("group {:?}: {err}", e.kind)))?;
        if let Some(note) = &data.note {
            provenance.push(note.clone());
        }
        let maker = Maker::new(e, &data, &grid).map_err(|err| place.on(g, err.to_string()))?;
        let name = e.name.clone().unwrap_or_else(|| e.kind.clone());
        for k in 0..count {
            let mut rng = population::rng_for(seed, 100 + gi as u64, k as u64);
            let (sim, note) = maker
                .make(&grid, &mut rng)
                .map_err(|err| place.on(g, err.to_string()))?;
            let circuit = &e.circuits[k % e.circuits.len()];
            let port = ports.entry(circuit.clone()).or_insert(0);
            *port += 1;
            devices.push(
                population::device(
                    &format!("{circuit}.{name}-{}", k + 1),
                    circuit,
                    priority,
                    *port,
                    sim,
                    note,
                )
                .map_err(|err| place.on(g, err.to_string()))?,
            );
        }
    }

    let name = spec.name.clone().unwrap_or_else(|| stem.to_string());
    population::assemble(&name, &grid, circuits, budgets, devices, provenance).map_err(|e| {
        DataError::Content {
            file: file.into(),
            reason: e.to_string(),
        }
    })
}

/// `HH:MM` as minutes after midnight.
fn clock_time(s: &str) -> Option<Minute> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 60 + m)
}

/// The default data a kind of group draws from.
fn kind_pool(kind: &str) -> Option<Pool> {
    match kind {
        "base" => Some(Pool::Households),
        "ev" => Some(Pool::EvSessions),
        "washer" | "dishwasher" => Some(Pool::Cycles),
        "water-heater" => Some(Pool::WaterHeaters),
        "cpu" => Some(Pool::Servers),
        _ => None,
    }
}

fn default_priority(kind: &str) -> Priority {
    match kind {
        "base" | "constant" => Priority::Critical,
        "water-heater" => Priority::High,
        _ => Priority::Normal,
    }
}

/// Counts scaled to `total` in proportion (largest remainders), each group keeping one (so
/// never fewer devices than groups).
fn scaled_counts(counts: &[usize], total: usize) -> Vec<usize> {
    let sum: usize = counts.iter().sum();
    if sum == 0 || total == sum {
        return counts.to_vec();
    }
    let exact: Vec<f64> = counts
        .iter()
        .map(|&c| c as f64 * total as f64 / sum as f64)
        .collect();
    let mut out: Vec<usize> = exact.iter().map(|&x| (x.floor() as usize).max(1)).collect();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    order.sort_by(|&a, &b| {
        (exact[b] - exact[b].floor())
            .total_cmp(&(exact[a] - exact[a].floor()))
            .then(a.cmp(&b))
    });
    let mut k = 0;
    while out.iter().sum::<usize>() < total && !order.is_empty() {
        out[order[k % order.len()]] += 1;
        k += 1;
    }
    // Keeping one device per group may overshoot: take it back from the largest groups.
    while out.iter().sum::<usize>() > total {
        let Some(big) = (0..out.len())
            .filter(|&i| out[i] > 1)
            .max_by_key(|&i| out[i])
        else {
            break;
        };
        out[big] -= 1;
    }
    out
}

/// The data of one group: its own files or the defaults.
#[derive(Default)]
struct GroupData {
    lib: Library,
    note: Option<String>,
}

fn first_line(path: &Path) -> Result<String> {
    let mut line = String::new();
    BufReader::new(traces::open(path)?)
        .read_line(&mut line)
        .map_err(|source| DataError::Io {
            file: path.display().to_string(),
            source,
        })?;
    Ok(line)
}

/// Series files of a group: long format (an id column, as the SGSC meters) when `long_ok`
/// and the file has `customer_id` or the group names its `id_column`, else one value column.
fn series_files(
    e: &GroupEntry,
    paths: &[PathBuf],
    unit: Unit,
    long_ok: bool,
    default_value: Option<&str>,
) -> Result<Vec<Series>> {
    let mut out = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let long = long_ok
            && (e.id_column.is_some()
                || first_line(p)?.split(',').any(|h| h.trim() == "customer_id"));
        let mut s = if long {
            traces::read_long(
                traces::open(p)?,
                &name,
                e.id_column.as_deref().unwrap_or("customer_id"),
                e.time_column.as_deref().unwrap_or("reading_datetime"),
                e.value_column.as_deref().unwrap_or("general_supply_kwh"),
                if e.unit.is_some() {
                    unit
                } else {
                    Unit::KilowattHourPerInterval
                },
            )?
        } else {
            let value = e.value_column.as_deref().or(default_value).ok_or_else(|| {
                DataError::Parameter {
                    name: "value_column".into(),
                    reason: format!("{name} needs the name of its value column"),
                }
            })?;
            traces::read_series(
                traces::open(p)?,
                &name,
                e.time_column.as_deref().unwrap_or("timestamp"),
                &[(value, unit)],
            )?
        };
        out.append(&mut s);
    }
    Ok(out)
}

fn group_data(e: &GroupEntry, dir: &Path, defaults: &Library) -> Result<GroupData> {
    let Some(files) = &e.files else {
        let lib = kind_pool(&e.kind).map_or_else(Library::default, |p| defaults.only(p));
        return Ok(GroupData { lib, note: None });
    };
    let paths: Vec<PathBuf> = files.iter().map(|f| dir.join(f)).collect();
    if paths.is_empty() {
        return Err(DataError::Parameter {
            name: "files".into(),
            reason: "an empty list (leave files out for the default data)".into(),
        });
    }
    let unit = match e.unit.as_deref() {
        None => Unit::Watt,
        Some(u) => Unit::parse(u).ok_or_else(|| DataError::Parameter {
            name: "unit".into(),
            reason: format!("{u:?} is not W, kW, Wh or kWh"),
        })?,
    };
    let mut lib = Library::default();
    match e.kind.as_str() {
        "base" => lib.households = series_files(e, &paths, unit, true, None)?,
        "water-heater" => lib.water_heaters = series_files(e, &paths, unit, false, None)?,
        "cpu" => lib.servers = series_files(e, &paths, Unit::Percent, false, Some("value"))?,
        "ev" => {
            let clock = match e.clock.as_deref() {
                None | Some("eu-summer-time") => Clock::EuWallClock,
                Some("standard") => Clock::Standard,
                Some(c) => {
                    return Err(DataError::Parameter {
                        name: "clock".into(),
                        reason: format!("{c:?} is not eu-summer-time or standard"),
                    });
                }
            };
            for p in &paths {
                lib.ev.push(traces::read_ev_sessions(
                    traces::open(p)?,
                    &p.display().to_string(),
                    clock,
                )?);
            }
        }
        "washer" | "dishwasher" => {
            for p in &paths {
                let name = p.display().to_string();
                let mut c = if first_line(p)?.contains("power_w") {
                    traces::read_cycles(traces::open(p)?, &name)?
                } else {
                    traces::cut_cycles(traces::open(p)?, &name, &traces::house_of(p))?
                };
                lib.cycles.append(&mut c);
            }
        }
        other => {
            return Err(DataError::Parameter {
                name: "files".into(),
                reason: format!("a {other} group takes no files"),
            });
        }
    }
    let note = Some(format!(
        "{} group: {}",
        e.kind,
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(GroupData { lib, note })
}

/// Makes one group's devices.
enum Maker<'a> {
    Base(SeriesDraw<'a>),
    Ev(EvDraw<'a>),
    Cycles(CycleDraw<'a>, Deadlines),
    Elastic {
        draw: SeriesDraw<'a>,
        min_w: f64,
        max_w: f64,
        idle_w: Option<f64>,
    },
    Timer {
        min_w: f64,
        max_w: f64,
        on: Minute,
        hours: u32,
    },
    Constant(f64),
}

fn need(v: Option<f64>, name: &str) -> Result<f64> {
    match v {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Some(x) => Err(DataError::Parameter {
            name: name.into(),
            reason: format!("{x} must be a number ≥ 0"),
        }),
        None => Err(DataError::Parameter {
            name: name.into(),
            reason: "is required for this kind".into(),
        }),
    }
}

impl<'a> Maker<'a> {
    fn new(e: &GroupEntry, data: &'a GroupData, grid: &Grid) -> Result<Self> {
        let lib = &data.lib;
        let window = |w: Option<[f64; 2]>, default: (f64, f64), name: &str| match w {
            None => Ok(default),
            Some([a, b]) if a.is_finite() && b.is_finite() && 0.0 <= a && a <= b && b <= 168.0 => {
                Ok((a, b))
            }
            Some([a, b]) => Err(DataError::Parameter {
                name: name.into(),
                reason: format!("[{a}, {b}] must be hours with 0 ≤ first ≤ second ≤ 168"),
            }),
        };
        let d = Deadlines::default();
        Ok(match e.kind.as_str() {
            "base" => Maker::Base(SeriesDraw::new(
                &lib.households,
                grid,
                grid.history_days,
                "base load",
            )?),
            "ev" => Maker::Ev(EvDraw::new(&lib.ev, grid)?),
            "washer" | "dishwasher" => {
                let appliance = Appliance::parse(&e.kind).unwrap_or(Appliance::Washer);
                Maker::Cycles(
                    CycleDraw::new(&lib.cycles, appliance, grid)?,
                    Deadlines {
                        finish_within_h: window(
                            e.finish_within_h,
                            d.finish_within_h,
                            "finish_within_h",
                        )?,
                        accept_later_h: window(
                            e.accept_later_h,
                            d.accept_later_h,
                            "accept_later_h",
                        )?,
                    },
                )
            }
            "water-heater" => {
                let peak = lib
                    .water_heaters
                    .iter()
                    .map(Series::max)
                    .fold(0.0, f64::max);
                let max_w = e.max_w.map_or(Ok(peak), |v| need(Some(v), "max_w"))?;
                Maker::Elastic {
                    draw: SeriesDraw::new(&lib.water_heaters, grid, 0, "water heaters")?,
                    min_w: e
                        .min_w
                        .map_or(Ok(max_w * 0.1), |v| need(Some(v), "min_w"))?,
                    max_w,
                    idle_w: None,
                }
            }
            "cpu" => Maker::Elastic {
                draw: SeriesDraw::new(&lib.servers, grid, 0, "CPU traces")?,
                min_w: need(e.idle_w, "idle_w")?,
                max_w: need(e.max_w, "max_w")?,
                idle_w: Some(need(e.idle_w, "idle_w")?),
            },
            "elastic" => {
                let on = match &e.on {
                    None => 0,
                    Some(s) => clock_time(s).ok_or_else(|| DataError::Parameter {
                        name: "on".into(),
                        reason: format!("{s:?} is not HH:MM"),
                    })?,
                };
                Maker::Timer {
                    min_w: need(e.min_w, "min_w")?,
                    max_w: need(e.max_w, "max_w")?,
                    on,
                    hours: e.hours.unwrap_or(24).clamp(1, 24),
                }
            }
            "constant" => Maker::Constant(need(e.w, "w")?),
            other => {
                return Err(DataError::Parameter {
                    name: "kind".into(),
                    reason: format!(
                        "{other:?} is not base, ev, washer, dishwasher, water-heater, cpu, \
                         elastic or constant"
                    ),
                });
            }
        })
    }

    fn make(&self, grid: &Grid, rng: &mut rand_chacha::ChaCha8Rng) -> Result<(SimKind, String)> {
        Ok(match self {
            Maker::Base(d) => population::base_from(d, grid, rng, &|w| w),
            Maker::Ev(d) => population::ev_jobs(d, grid, rng)?,
            Maker::Cycles(d, deadlines) => population::cycle_jobs(d, grid, rng, deadlines)?,
            Maker::Elastic {
                draw,
                min_w,
                max_w,
                idle_w,
            } => match idle_w {
                // A CPU trace: power = idle + (max − idle) · CPU.
                Some(idle) => population::elastic_from(
                    draw,
                    grid,
                    rng,
                    &|c| idle + (max_w - idle) * c / 100.0,
                    *min_w,
                    *max_w,
                ),
                None => population::elastic_from(draw, grid, rng, &|w| w, *min_w, *max_w),
            },
            Maker::Timer {
                min_w,
                max_w,
                on,
                hours,
            } => population::timer_elastic(grid, rng, *min_w, *max_w, *on, *hours),
            Maker::Constant(w) => (
                SimKind::Base {
                    actual_mw: vec![population::mw(*w); grid.slots()],
                    history_mw: vec![
                        population::mw(*w);
                        grid.history_days as usize * grid.per_day()
                    ],
                },
                format!("constant {w} W"),
            ),
        })
    }
}

fn solar(
    e: &BudgetEntry,
    rated_mw: i64,
    dir: &Path,
    defaults: &Library,
    grid: &Grid,
    seed: u64,
) -> Result<(super::model::SolarBattery, String)> {
    let kwh = |v: Option<f64>| v.unwrap_or(0.0) * 1_000.0;
    let spec = SolarSpec {
        area_m2: need(e.array_m2, "array_m2")?,
        efficiency: need(e.efficiency, "efficiency")?,
        battery_wh: kwh(e.battery_kwh),
        reserve_wh: kwh(e.reserve_kwh),
        initial_wh: kwh(e.initial_kwh),
        inverter_w: e
            .inverter_kw
            .map_or(rated_mw as f64 / 1_000.0, |k| k * 1_000.0),
        grid_w: kwh(e.grid_kw),
    };
    spec.check("solar-battery")?;
    let own;
    let pool = match &e.irradiance {
        None => &defaults.irradiance,
        Some(f) => {
            let p = dir.join(f);
            own = traces::read_series(
                traces::open(&p)?,
                &p.display().to_string(),
                e.time_column.as_deref().unwrap_or("timestamp"),
                &[(
                    e.value_column.as_deref().unwrap_or("poa_irradiance_w_m2"),
                    Unit::WattPerSquareMetre,
                )],
            )?;
            &own
        }
    };
    let draw = SeriesDraw::new(pool, grid, SOLAR_HISTORY_DAYS, "irradiance")?;
    // One sky per site: every solar budget of a file draws the same days.
    let mut rng = population::rng_for(seed, 2, 0);
    Ok(population::solar_budget(&draw, grid, &spec, &mut rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_scale_in_proportion_and_keep_every_group() {
        assert_eq!(scaled_counts(&[10, 20, 70], 100), vec![10, 20, 70]);
        assert_eq!(scaled_counts(&[10, 20, 70], 1000), vec![100, 200, 700]);
        assert_eq!(scaled_counts(&[1, 1, 98], 10), vec![1, 1, 8]);
        assert_eq!(scaled_counts(&[3, 3, 3], 10).iter().sum::<usize>(), 10);
        assert_eq!(scaled_counts(&[5, 5, 5], 2), vec![1, 1, 1]);
    }

    #[test]
    fn clock_times() {
        assert_eq!(clock_time("12:00"), Some(720));
        assert_eq!(clock_time("24:00"), None);
        assert_eq!(clock_time("noon"), None);
    }
}
