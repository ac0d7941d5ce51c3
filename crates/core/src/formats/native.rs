//! The native JSON format for device problems.
//!
//! ```json
//! {
//!   "name": "kitchen",
//!   "slot_seconds": 60,
//!   "origin_seconds": 0,
//!   "budget_mw":   {"values": [3000000, 5000000], "after": "repeat"},
//!   "baseline_mw": 500000,
//!   "devices": [
//!     {"id": "washer", "power_mw": 2000000, "duration_slots": 90},
//!     {"id": "dryer",  "power_mw": 2500000, "duration_slots": 60,
//!      "predecessors": ["washer"], "release_slot": 0, "deadline_slot": 1440}
//!   ]
//! }
//! ```
//!
//! * `slot_seconds` (default 60) and `origin_seconds` (seconds after midnight at
//!   which slot 0 starts, default 0) place the grid on the clock.
//! * The power capacity per slot is `max(0, budget_mw − baseline_mw)`; give either
//!   `budget_mw` (with an optional `baseline_mw`, default 0) or `capacity_mw` directly.
//! * A profile is a number (the same in every slot), a list of per-slot values
//!   whose last value then holds, or `{"values": [...], "after": "hold" | "repeat"}`.
//! * Each device runs once, non-preemptively, for `duration_slots` slots at
//!   constant `power_mw` (integer milliwatts); `predecessors` name devices that
//!   must finish first; `release_slot` and `deadline_slot` (finish no later) are optional.
//! * Unknown fields are errors, so a misspelt key is reported instead of ignored.

use serde::{Deserialize, Serialize};

use super::ParseError;
use crate::instance::{Instance, InstanceSpec, PowerCurves, Resource, ResourceUnit, Task, TaskId};
use crate::limits::{MAX_AMOUNT, excerpt, strip_bom, thousands};
use crate::profile::CapacityProfile;
use crate::units::{Slot, TimeGrid};

/// A device problem as stored in JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeInstance {
    /// Instance name (defaults to the file stem).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Slot length in seconds.
    #[serde(default = "default_slot_seconds")]
    pub slot_seconds: u32,
    /// Seconds after midnight at which slot 0 starts.
    #[serde(default)]
    pub origin_seconds: i64,
    /// Maximum allowable power per slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mw: Option<CapacityProfile>,
    /// Non-schedulable load per slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_mw: Option<CapacityProfile>,
    /// Capacity per slot, when given directly instead of budget and baseline.
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
    /// Constant power while running, integer milliwatts.
    pub power_mw: i64,
    /// Run time in slots.
    pub duration_slots: u32,
    /// Ids of devices that must finish before this one starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub predecessors: Vec<String>,
    /// Earliest start slot.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub release_slot: Slot,
    /// Latest finish slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_slot: Option<Slot>,
}

/// Longest device id: ids appear in every message about a device.
pub const MAX_ID_CHARS: usize = 200;

fn default_slot_seconds() -> u32 {
    60
}

fn is_zero(s: &Slot) -> bool {
    *s == 0
}

/// Parses native JSON text into a spec (a leading byte order mark is skipped).
pub fn parse(text: &str, name: &str) -> Result<InstanceSpec, ParseError> {
    let text = strip_bom(text);
    let native: NativeInstance = serde_json::from_str(text).map_err(|e| json_error(text, &e))?;
    native.into_spec(name)
}

/// A JSON error as one short line that names the key it is about: serde's own
/// message (cut, so a huge value is never echoed) after the nearest key before
/// the error, then the position.
pub fn json_error(text: &str, e: &serde_json::Error) -> ParseError {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let message = excerpt(full.strip_suffix(&position).unwrap_or(&full), 200);
    // "missing field" and "unknown field" name their key already; for the others the
    // nearest key before the error is the one whose value is wrong.
    let names_key = ["missing field", "unknown field", "duplicate field"]
        .iter()
        .any(|p| message.starts_with(p));
    let message = match key_before(text, e.line(), e.column()) {
        Some(key) if !names_key && !message.contains(&format!("`{key}`")) => {
            format!("`{}`: {message}", excerpt(&key, 40))
        }
        _ => message,
    };
    let at = if e.line() > 0 {
        format!(" (column {})", e.column())
    } else {
        String::new()
    };
    ParseError::new(e.line(), format!("{message}{at}"))
}

/// The last object key that starts before `line`:`column` (1-based), if any.
fn key_before(text: &str, line: usize, column: usize) -> Option<String> {
    let offset = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>()
        + column;
    let prefix = text.get(..offset.min(text.len()))?;
    let bytes = prefix.as_bytes();
    let (mut i, mut key) = (0, None);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        // A string literal: find its end, honouring escapes.
        let start = i + 1;
        i = start;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        let end = i.min(bytes.len());
        i += 1;
        let rest = prefix.get(i.min(prefix.len())..).unwrap_or("");
        if rest.trim_start().starts_with(':') {
            key = prefix.get(start..end).map(str::to_string);
        }
    }
    key
}

impl NativeInstance {
    /// Checks references and builds the spec (`fallback_name` if `name` is empty).
    pub fn into_spec(self, fallback_name: &str) -> Result<InstanceSpec, ParseError> {
        if self.slot_seconds == 0 {
            return Err(ParseError::new(0, "slot_seconds must be at least 1"));
        }
        let (capacity, power_curves) = match (self.budget_mw, self.baseline_mw, self.capacity_mw) {
            (Some(budget), baseline, None) => {
                let baseline =
                    baseline.unwrap_or_else(|| CapacityProfile::constant(0).expect("0 is valid"));
                (
                    CapacityProfile::difference(&budget, &baseline)
                        .map_err(|e| ParseError::new(0, format!("budget_mw − baseline_mw: {e}")))?,
                    Some(PowerCurves {
                        budget_mw: budget,
                        baseline_mw: baseline,
                    }),
                )
            }
            (None, None, Some(cap)) => (cap, None),
            (None, Some(_), _) => {
                return Err(ParseError::new(0, "baseline_mw is given without budget_mw"));
            }
            (Some(_), _, Some(_)) => {
                return Err(ParseError::new(
                    0,
                    "give either budget_mw (and baseline_mw) or capacity_mw, not both",
                ));
            }
            (None, None, None) => {
                return Err(ParseError::new(
                    0,
                    "no power budget: give budget_mw or capacity_mw",
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
            if d.id.chars().count() > MAX_ID_CHARS {
                return Err(ParseError::new(
                    0,
                    format!(
                        "device #{} has an id of {} characters ('{}'); at most {MAX_ID_CHARS} are allowed",
                        i + 1,
                        thousands(d.id.chars().count() as u64),
                        excerpt(&d.id, 20)
                    ),
                ));
            }
            if index.insert(d.id.as_str(), i).is_some() {
                return Err(ParseError::new(
                    0,
                    format!("device id '{}' is used twice", d.id),
                ));
            }
            if d.power_mw < 0 {
                return Err(ParseError::new(
                    0,
                    format!("device '{}' has negative power {} mW", d.id, d.power_mw),
                ));
            }
            if d.power_mw > MAX_AMOUNT {
                return Err(ParseError::new(
                    0,
                    format!(
                        "device '{}' draws {} mW, above the largest supported power of {} mW (1 GW)",
                        d.id,
                        d.power_mw,
                        thousands(MAX_AMOUNT as u64)
                    ),
                ));
            }
        }
        let tasks = self
            .devices
            .iter()
            .map(|d| {
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
                    duration: d.duration_slots,
                    demand: vec![d.power_mw],
                    predecessors,
                    release: d.release_slot,
                    deadline: d.deadline_slot,
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
                slot_seconds: self.slot_seconds,
                origin_seconds: self.origin_seconds,
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
            slot_seconds: grid.slot_seconds,
            origin_seconds: grid.origin_seconds,
            budget_mw,
            baseline_mw,
            capacity_mw,
            devices: inst
                .tasks()
                .iter()
                .map(|t| NativeDevice {
                    id: name_of(t),
                    power_mw: t.demand[0],
                    duration_slots: t.duration,
                    predecessors: t
                        .predecessors
                        .iter()
                        .map(|&p| name_of(&inst.tasks()[p]))
                        .collect(),
                    release_slot: t.release,
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
