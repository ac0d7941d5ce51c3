//! The native JSON format for device problems.
//!
//! People write clock times and units:
//!
//! ```json
//! {
//!   "name": "evening",
//!   "start": "2026-06-01T18:00+02:00",
//!   "slot": "15 min",
//!   "budget": "5 kW",
//!   "baseline": "600 W",
//!   "devices": [
//!     {"id": "dishwasher", "power": "1.8 kW", "duration": "1 h 30 min", "deadline": "07:00"},
//!     {"id": "washer", "power": "2 kW", "duration": "2 h", "earliest": "22:00"},
//!     {"id": "dryer", "power": "2.5 kW", "duration": "1 h",
//!      "predecessors": ["washer"], "deadline": "2026-06-02T07:00+02:00"}
//!   ]
//! }
//! ```
//!
//! * `start`: the clock time of slot 0, ISO 8601 with its UTC offset (`Z` for UTC);
//!   plans are reported in clock times from it, in that offset. `slot`: the slot
//!   length with its unit (`s`, `min`, `h`; default 1 min).
//! * Powers are strings with their unit, `W` or `kW` (`"2 kW"`, `"800 W"`); internally
//!   they are integer milliwatts. `budget`, `baseline` and `capacity` are power
//!   profiles (below) in these units.
//! * A device runs once, without interruption, for `duration` (rounded up to whole
//!   slots) at constant `power`. `earliest` (start no sooner) and `deadline` (finish
//!   no later) are clock times: a date and time (`"2026-06-02T07:00+02:00"`; without
//!   an offset, the start's) or a time of day (`"07:00"`, the next such time from the
//!   start; a deadline equal to the start's time of day means the next day). A window
//!   needs `start`. `predecessors` name devices that must finish first.
//!
//! The same problem in the original integer keys, which stay readable (and are what
//! [`NativeInstance::from_instance`] writes):
//!
//! ```json
//! {
//!   "name": "evening",
//!   "slot_seconds": 900,
//!   "origin_seconds": 64800,
//!   "budget_mw": 5000000,
//!   "baseline_mw": 600000,
//!   "devices": [
//!     {"id": "dishwasher", "power_mw": 1800000, "duration_slots": 6, "deadline_slot": 52},
//!     {"id": "washer", "power_mw": 2000000, "duration_slots": 8, "release_slot": 16},
//!     {"id": "dryer", "power_mw": 2500000, "duration_slots": 4,
//!      "predecessors": ["washer"], "deadline_slot": 52}
//!   ]
//! }
//! ```
//!
//! * `slot_seconds` (default 60) and `origin_seconds` (seconds after midnight at
//!   which slot 0 starts, default 0) place the grid on the clock, without a date.
//! * `*_mw` values are integer milliwatts; `duration_slots`, `release_slot` (earliest
//!   start slot) and `deadline_slot` (latest finish slot) count slots.
//! * Each quantity is given in one form only: `start` or `origin_seconds`, `slot` or
//!   `slot_seconds`, `power` or `power_mw`, and so on; the two forms may be mixed
//!   across keys.
//!
//! Common to both:
//!
//! * The power capacity per slot is `max(0, budget − baseline)`; give either a budget
//!   (with an optional baseline, default 0) or the capacity directly.
//! * A profile is a single value (the same in every slot), a list of per-slot values
//!   whose last value then holds, or `{"values": [...], "after": "hold" | "repeat",
//!   "period": N}` (after the values, the last `period` of them repeat; by default all).
//! * Unknown fields are errors, so a misspelt key is reported instead of ignored.

use serde::{Deserialize, Serialize};

use super::ParseError;
use super::written::{Length, Power, PowerProfile};
use crate::clock::{ClockStart, Moment};
use crate::instance::{Instance, InstanceSpec, PowerCurves, Resource, ResourceUnit, Task, TaskId};
use crate::profile::CapacityProfile;
use crate::units::{Slot, TimeGrid};

/// A device problem as stored in JSON. Each quantity has a written form (clock times,
/// units) and an integer form (`*_mw`, slots); a file gives at most one of each pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeInstance {
    /// Instance name (defaults to the file stem).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Clock time of slot 0, ISO 8601 with its UTC offset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<ClockStart>,
    /// Slot length with its unit (`"15 min"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Length>,
    /// Slot length in seconds (default 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_seconds: Option<u32>,
    /// Seconds after midnight at which slot 0 starts (default 0), when `start` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_seconds: Option<i64>,
    /// Maximum allowable power per slot, with units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<PowerProfile>,
    /// Non-schedulable load per slot, with units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PowerProfile>,
    /// Capacity per slot with units, when given directly instead of budget and baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<PowerProfile>,
    /// Maximum allowable power per slot, milliwatts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mw: Option<CapacityProfile>,
    /// Non-schedulable load per slot, milliwatts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mw: Option<CapacityProfile>,
    /// Capacity per slot in milliwatts, when given directly instead of budget and baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_mw: Option<CapacityProfile>,
    /// The devices to schedule.
    pub devices: Vec<NativeDevice>,
}

/// One device of a [`NativeInstance`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeDevice {
    /// Unique device id.
    pub id: String,
    /// Constant power while running, with its unit (`"2 kW"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<Power>,
    /// Constant power while running, integer milliwatts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_mw: Option<i64>,
    /// Run time with its unit (`"1 h 30 min"`), rounded up to whole slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<Length>,
    /// Run time in slots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_slots: Option<u32>,
    /// Ids of devices that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predecessors: Vec<String>,
    /// Earliest start as a clock time (needs the instance's `start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earliest: Option<Moment>,
    /// Earliest start slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_slot: Option<Slot>,
    /// Latest finish as a clock time (needs the instance's `start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Moment>,
    /// Latest finish slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_slot: Option<Slot>,
}

/// At most one of a written and an integer form of the same quantity.
fn one_of<T>(
    written: (&str, Option<T>),
    integer: (&str, Option<T>),
    whose: &str,
) -> Result<Option<T>, ParseError> {
    match (written.1, integer.1) {
        (Some(_), Some(_)) => Err(ParseError::new(
            0,
            format!(
                "{whose}gives both \"{}\" and \"{}\": give one of them",
                written.0, integer.0
            ),
        )),
        (w, i) => Ok(w.or(i)),
    }
}

/// A power profile in either form, in milliwatts.
fn power_profile(
    key: &str,
    written: Option<PowerProfile>,
    integer: Option<CapacityProfile>,
) -> Result<Option<CapacityProfile>, ParseError> {
    let written = written
        .map(|p| {
            p.to_profile()
                .map_err(|e| ParseError::new(0, format!("\"{key}\": {e}")))
        })
        .transpose()?;
    one_of(
        (key, written),
        (&format!("{key}_mw"), integer),
        "the instance ",
    )
}

/// Slots from the start to a moment, rounded so the device stays inside its window:
/// up for an earliest start, down for a deadline.
fn moment_slot(
    start: Option<ClockStart>,
    slot_seconds: u32,
    device: &str,
    key: &str,
    moment: &Moment,
) -> Result<i64, ParseError> {
    let start = start.ok_or_else(|| {
        ParseError::new(
            0,
            format!(
                "device '{device}': \"{key}\": \"{moment}\" is a clock time, so the instance needs \"start\" (e.g. \"start\": \"2026-06-01T18:00+02:00\")"
            ),
        )
    })?;
    let is_deadline = key == "deadline";
    let seconds = start.seconds_until(moment, is_deadline);
    let slot = i64::from(slot_seconds);
    Ok(if is_deadline {
        if seconds <= 0 {
            return Err(ParseError::new(
                0,
                format!("device '{device}': deadline \"{moment}\" is not after the start {start}"),
            ));
        }
        seconds.div_euclid(slot)
    } else {
        // Rounded up: a start in the middle of a slot waits for the next one.
        (seconds.max(0) + slot - 1) / slot
    })
}

/// A slot index that fits the model's slot type, or an error naming the device.
fn to_slot(value: i64, device: &str, key: &str) -> Result<Slot, ParseError> {
    Slot::try_from(value).map_err(|_| {
        ParseError::new(
            0,
            format!("device '{device}': \"{key}\" is {value} slots from the start, too far"),
        )
    })
}

fn default_slot_seconds() -> u32 {
    60
}

/// Parses native JSON text into a spec.
pub fn parse(text: &str, name: &str) -> Result<InstanceSpec, ParseError> {
    let native: NativeInstance =
        serde_json::from_str(text).map_err(|e| ParseError::new(e.line(), format!("{e}")))?;
    native.into_spec(name)
}

impl NativeInstance {
    /// Checks references and builds the spec (`fallback_name` if `name` is empty).
    pub fn into_spec(self, fallback_name: &str) -> Result<InstanceSpec, ParseError> {
        let slot = self
            .slot
            .map(|l| {
                u32::try_from(l.seconds).map_err(|_| {
                    ParseError::new(0, format!("\"slot\" of {} s is too long", l.seconds))
                })
            })
            .transpose()?;
        let slot_seconds = one_of(
            ("slot", slot),
            ("slot_seconds", self.slot_seconds),
            "the instance ",
        )?
        .unwrap_or_else(default_slot_seconds);
        if slot_seconds == 0 {
            return Err(ParseError::new(0, "the slot length must be at least 1 s"));
        }
        let origin_seconds = match (self.start, self.origin_seconds) {
            (Some(_), Some(_)) => {
                return Err(ParseError::new(
                    0,
                    "the instance gives both \"start\" and \"origin_seconds\": give one of them",
                ));
            }
            (Some(start), None) => start.seconds_after_midnight(),
            (None, origin) => origin.unwrap_or(0),
        };
        let budget = power_profile("budget", self.budget, self.budget_mw)?;
        let baseline = power_profile("baseline", self.baseline, self.baseline_mw)?;
        let capacity = power_profile("capacity", self.capacity, self.capacity_mw)?;
        let (capacity, power_curves) = match (budget, baseline, capacity) {
            (Some(budget), baseline, None) => {
                let baseline =
                    baseline.unwrap_or_else(|| CapacityProfile::constant(0).expect("0 is valid"));
                (
                    CapacityProfile::difference(&budget, &baseline),
                    Some(PowerCurves {
                        budget_mw: budget,
                        baseline_mw: baseline,
                    }),
                )
            }
            (None, None, Some(cap)) => (cap, None),
            (None, Some(_), _) => {
                return Err(ParseError::new(0, "a baseline is given without a budget"));
            }
            (Some(_), _, Some(_)) => {
                return Err(ParseError::new(
                    0,
                    "give either a budget (and baseline) or a capacity, not both",
                ));
            }
            (None, None, None) => {
                return Err(ParseError::new(
                    0,
                    "no power budget: give \"budget\" (e.g. \"5 kW\") or \"capacity\" (or budget_mw / capacity_mw in milliwatts)",
                ));
            }
        };
        let mut index = std::collections::HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.id.is_empty() {
                return Err(ParseError::new(
                    0,
                    format!("device #{} has an empty id", i + 1),
                ));
            }
            if index.insert(d.id.as_str(), i).is_some() {
                return Err(ParseError::new(
                    0,
                    format!("device id '{}' is used twice", d.id),
                ));
            }
        }
        let tasks = self
            .devices
            .iter()
            .map(|d| {
                let whose = format!("device '{}' ", d.id);
                let power = one_of(
                    ("power", d.power.map(|p| p.0.0)),
                    ("power_mw", d.power_mw),
                    &whose,
                )?
                .ok_or_else(|| {
                    ParseError::new(
                        0,
                        format!(
                            "device '{}' has no power: give e.g. \"power\": \"2 kW\"",
                            d.id
                        ),
                    )
                })?;
                if power < 0 {
                    return Err(ParseError::new(
                        0,
                        format!("device '{}' has negative power {power} mW", d.id),
                    ));
                }
                let duration = match d.duration {
                    Some(l) if l.seconds == 0 => {
                        return Err(ParseError::new(
                            0,
                            format!("device '{}': \"duration\" must be longer than 0 s", d.id),
                        ));
                    }
                    Some(l) => Some(to_slot(
                        i64::try_from(l.seconds.div_ceil(u64::from(slot_seconds)))
                            .unwrap_or(i64::MAX),
                        &d.id,
                        "duration",
                    )?),
                    None => None,
                };
                let duration = one_of(
                    ("duration", duration),
                    ("duration_slots", d.duration_slots),
                    &whose,
                )?
                .ok_or_else(|| {
                    ParseError::new(
                        0,
                        format!(
                            "device '{}' has no duration: give e.g. \"duration\": \"1 h 30 min\"",
                            d.id
                        ),
                    )
                })?;
                let moment = |key: &str, m: &Option<Moment>| {
                    m.as_ref()
                        .map(|m| {
                            let slot = moment_slot(self.start, slot_seconds, &d.id, key, m)?;
                            to_slot(slot, &d.id, key)
                        })
                        .transpose()
                };
                let release = one_of(
                    ("earliest", moment("earliest", &d.earliest)?),
                    ("release_slot", d.release_slot),
                    &whose,
                )?
                .unwrap_or(0);
                let deadline = one_of(
                    ("deadline", moment("deadline", &d.deadline)?),
                    ("deadline_slot", d.deadline_slot),
                    &whose,
                )?;
                let predecessors = d
                    .predecessors
                    .iter()
                    .map(|p| {
                        index.get(p.as_str()).copied().ok_or_else(|| {
                            ParseError::new(
                                0,
                                format!(
                                    "device '{}' names predecessor '{p}', which is not a device",
                                    d.id
                                ),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Task {
                    id: TaskId::Name(d.id.clone()),
                    duration,
                    demand: vec![power],
                    predecessors,
                    release,
                    deadline,
                })
            })
            .collect::<Result<Vec<_>, ParseError>>()?;
        Ok(InstanceSpec {
            name: if self.name.is_empty() {
                fallback_name.to_string()
            } else {
                self.name
            },
            resources: vec![Resource {
                name: "power".into(),
                unit: ResourceUnit::Milliwatts,
                capacity,
            }],
            tasks,
            grid: Some(TimeGrid {
                slot_seconds,
                origin_seconds,
                start: self.start,
            }),
            power_curves,
        })
    }

    /// The native form of a single-resource instance (device problem), so that
    /// generated scenarios can be saved and solved again with `powerslot plan`.
    /// Returns `None` if the instance has more than one resource.
    pub fn from_instance(inst: &Instance) -> Option<Self> {
        if inst.resources().len() != 1 {
            return None;
        }
        let name_of = |t: &Task| match &t.id {
            TaskId::Name(s) => s.clone(),
            TaskId::Number(n) => n.to_string(),
        };
        let grid = inst.grid().unwrap_or_default();
        let (budget_mw, baseline_mw, capacity_mw) = match inst.power_curves() {
            Some(c) => (Some(c.budget_mw.clone()), Some(c.baseline_mw.clone()), None),
            None => (None, None, Some(inst.resources()[0].capacity.clone())),
        };
        Some(Self {
            name: inst.name().to_string(),
            start: grid.start,
            slot: None,
            slot_seconds: Some(grid.slot_seconds),
            origin_seconds: grid.start.is_none().then_some(grid.origin_seconds),
            budget: None,
            baseline: None,
            capacity: None,
            budget_mw,
            baseline_mw,
            capacity_mw,
            devices: inst
                .tasks()
                .iter()
                .map(|t| NativeDevice {
                    id: name_of(t),
                    power: None,
                    power_mw: Some(t.demand[0]),
                    duration: None,
                    duration_slots: Some(t.duration),
                    predecessors: t
                        .predecessors
                        .iter()
                        .map(|&p| name_of(&inst.tasks()[p]))
                        .collect(),
                    earliest: None,
                    release_slot: (t.release > 0).then_some(t.release),
                    deadline: None,
                    deadline_slot: t.deadline,
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Tail;

    const KITCHEN: &str = r#"{
  "name": "kitchen",
  "slot_seconds": 900,
  "budget_mw": {"values": [3000000, 5000000], "after": "repeat"},
  "baseline_mw": 500000,
  "devices": [
    {"id": "washer", "power_mw": 2000000, "duration_slots": 4},
    {"id": "dryer", "power_mw": 2500000, "duration_slots": 2, "predecessors": ["washer"]}
  ]
}"#;

    #[test]
    fn parses_budget_minus_baseline() {
        let inst = Instance::new(parse(KITCHEN, "f").unwrap()).unwrap();
        let cap = &inst.resources()[0].capacity;
        assert_eq!(
            (cap.at(0), cap.at(1), cap.at(2)),
            (2_500_000, 4_500_000, 2_500_000)
        );
        assert_eq!(cap.tail(), Tail::Repeat);
        assert_eq!(inst.tasks()[1].predecessors, vec![0]);
        assert_eq!(inst.grid().unwrap().slot_seconds, 900);
    }

    #[test]
    fn round_trips() {
        let inst = Instance::new(parse(KITCHEN, "f").unwrap()).unwrap();
        let json = serde_json::to_string(&NativeInstance::from_instance(&inst).unwrap()).unwrap();
        let again = Instance::new(parse(&json, "g").unwrap()).unwrap();
        assert_eq!(inst, again);
    }

    /// The two examples of the module documentation.
    const EVENING: &str = r#"{
  "name": "evening",
  "start": "2026-06-01T18:00+02:00",
  "slot": "15 min",
  "budget": "5 kW",
  "baseline": "600 W",
  "devices": [
    {"id": "dishwasher", "power": "1.8 kW", "duration": "1 h 30 min", "deadline": "07:00"},
    {"id": "washer", "power": "2 kW", "duration": "2 h", "earliest": "22:00"},
    {"id": "dryer", "power": "2.5 kW", "duration": "1 h",
     "predecessors": ["washer"], "deadline": "2026-06-02T07:00+02:00"}
  ]
}"#;
    const EVENING_MW: &str = r#"{
  "name": "evening",
  "slot_seconds": 900,
  "origin_seconds": 64800,
  "budget_mw": 5000000,
  "baseline_mw": 600000,
  "devices": [
    {"id": "dishwasher", "power_mw": 1800000, "duration_slots": 6, "deadline_slot": 52},
    {"id": "washer", "power_mw": 2000000, "duration_slots": 8, "release_slot": 16},
    {"id": "dryer", "power_mw": 2500000, "duration_slots": 4,
     "predecessors": ["washer"], "deadline_slot": 52}
  ]
}"#;

    #[test]
    fn clock_times_and_units_read_as_slots_and_milliwatts() {
        let written = Instance::new(parse(EVENING, "f").unwrap()).unwrap();
        let integer = Instance::new(parse(EVENING_MW, "f").unwrap()).unwrap();
        assert_eq!(written.tasks(), integer.tasks());
        assert_eq!(written.resources(), integer.resources());
        assert_eq!(written.power_curves(), integer.power_curves());
        let grid = written.grid().unwrap();
        assert_eq!((grid.slot_seconds, grid.origin_seconds), (900, 64800));
        assert_eq!(grid.clock(52), "2026-06-02 07:00");
        assert_eq!(integer.grid().unwrap().clock(52), "day 1 07:00");
        // The start survives a round trip through the integer form.
        let json =
            serde_json::to_string(&NativeInstance::from_instance(&written).unwrap()).unwrap();
        assert!(
            json.contains("\"start\":\"2026-06-01T18:00+02:00\""),
            "{json}"
        );
        assert_eq!(Instance::new(parse(&json, "g").unwrap()).unwrap(), written);
    }

    #[test]
    fn windows_round_toward_the_inside() {
        // 10-minute slots from 18:00: earliest 18:25 → slot 3 (18:30), deadline 19:55 → slot 11
        // (19:50); 25 minutes of running → 3 slots.
        let json = r#"{"start": "2026-06-01T18:00Z", "slot": "10 min", "capacity": "1 kW",
            "devices": [{"id": "a", "power": "1 kW", "duration": "25 min",
                         "earliest": "18:25", "deadline": "19:55"}]}"#;
        let inst = Instance::new(parse(json, "f").unwrap()).unwrap();
        let t = &inst.tasks()[0];
        assert_eq!((t.release, t.deadline, t.duration), (3, Some(11), 3));
        // An earliest start before the plan start is no restriction.
        let early = json.replace("\"18:25\"", "\"2026-06-01T17:00Z\"");
        let inst = Instance::new(parse(&early, "f").unwrap()).unwrap();
        assert_eq!(inst.tasks()[0].release, 0);
    }

    #[test]
    fn written_forms_have_their_own_errors() {
        let err = |json: &str| parse(json, "f").unwrap_err();
        let base = r#"{"start": "2026-06-01T18:00+02:00", "slot": "15 min", "budget": "5 kW",
  "devices": [{"id": "ev", "power": "7 kW", "duration": "4 h", "deadline": "07:00"}]}"#;
        assert!(parse(base, "f").is_ok());
        // Syntax errors in a value carry the line.
        let e = err(&base.replace("\"7 kW\"", "\"7 kWh\""));
        assert_eq!(e.line, 2);
        assert!(
            e.message.contains("'7 kWh' is not a power"),
            "{}",
            e.message
        );
        let e = err(&base.replace("\"7 kW\"", "7000"));
        assert!(e.message.contains("has no unit"), "{}", e.message);
        let e = err(&base.replace("+02:00\"", "\""));
        assert!(e.message.contains("no UTC offset"), "{}", e.message);
        let e = err(&base.replace("\"07:00\"", "\"7am\""));
        assert!(e.message.contains("not a clock time"), "{}", e.message);
        // Both forms of one quantity.
        let e = err(&base.replace(
            "\"power\": \"7 kW\"",
            "\"power\": \"7 kW\", \"power_mw\": 7",
        ));
        assert!(
            e.message
                .contains("device 'ev' gives both \"power\" and \"power_mw\""),
            "{}",
            e.message
        );
        let e = err(&base.replace("\"budget\"", "\"budget_mw\": 5, \"budget\""));
        assert!(
            e.message.contains("both \"budget\" and \"budget_mw\""),
            "{}",
            e.message
        );
        let e = err(&base.replace("\"slot\"", "\"origin_seconds\": 0, \"slot\""));
        assert!(
            e.message.contains("\"start\" and \"origin_seconds\""),
            "{}",
            e.message
        );
        // Windows need a start; deadlines after it.
        let e = err(&base.replace("\"start\": \"2026-06-01T18:00+02:00\", ", ""));
        assert!(
            e.message.contains("device 'ev'") && e.message.contains("needs \"start\""),
            "{}",
            e.message
        );
        let e = err(&base.replace("\"07:00\"", "\"2026-06-01T17:00+02:00\""));
        assert!(
            e.message
                .contains("is not after the start 2026-06-01T18:00+02:00"),
            "{}",
            e.message
        );
        // Missing quantities say what to write.
        let e = err(&base.replace("\"power\": \"7 kW\", ", ""));
        assert!(
            e.message
                .contains("has no power: give e.g. \"power\": \"2 kW\""),
            "{}",
            e.message
        );
        let e = err(&base.replace("\"4 h\"", "\"0 min\""));
        assert!(e.message.contains("longer than 0 s"), "{}", e.message);
        let e = err(&base.replace("\"budget\": \"5 kW\"", "\"budget\": []"));
        assert!(
            e.message
                .contains("\"budget\": a capacity profile needs at least one value"),
            "{}",
            e.message
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let typo = KITCHEN.replace("\"power_mw\": 2000000", "\"powr_mw\": 2000000");
        let e = parse(&typo, "f").unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("powr_mw"), "{}", e.message);
        let unknown = KITCHEN.replace("[\"washer\"]", "[\"wahser\"]");
        assert!(
            parse(&unknown, "f")
                .unwrap_err()
                .message
                .contains("'wahser'")
        );
        let neg = KITCHEN.replace("2500000, \"duration", "-5, \"duration");
        assert!(
            parse(&neg, "f")
                .unwrap_err()
                .message
                .contains("negative power")
        );
    }
}
