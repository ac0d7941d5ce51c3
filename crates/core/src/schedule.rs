//! Schedules and their validation.
//!
//! A [`Schedule`] is a start slot per task. [`validate`] checks it against an
//! [`Instance`] and returns the first [`Violation`] with the names and numbers a
//! user needs, never a bare `false`. Every planner's output goes through it
//! before anything reports it.

use serde::{Deserialize, Serialize};

use crate::instance::{Instance, TaskId};
use crate::limits::{horizon_for, thousands};
use crate::units::Slot;

/// Start slot of every task, indexed like the instance's tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schedule {
    /// `starts[j]` is the first slot task `j` runs in.
    pub starts: Vec<Slot>,
}

impl Schedule {
    /// A schedule from start slots.
    pub fn new(starts: Vec<Slot>) -> Self {
        Self { starts }
    }

    /// Finish slot (exclusive) of task `j` (saturating: [`validate`] refuses a
    /// schedule that runs past the horizon, so a validated one never saturates).
    pub fn finish(&self, inst: &Instance, j: usize) -> Slot {
        self.starts[j].saturating_add(inst.tasks()[j].duration)
    }

    /// The makespan: the latest finish over all tasks (slot 0 is the time origin).
    pub fn makespan(&self, inst: &Instance) -> Slot {
        (0..self.starts.len())
            .map(|j| self.finish(inst, j))
            .max()
            .unwrap_or(0)
    }

    /// Usage of resource `k` in slots `0..makespan` (one entry per slot: call it on a
    /// validated schedule, whose makespan is within the horizon).
    pub fn usage(&self, inst: &Instance, k: usize) -> Vec<i64> {
        let len = self.makespan(inst) as usize;
        let mut diff = vec![0i64; len + 1];
        for (j, t) in inst.tasks().iter().enumerate() {
            let s = self.starts[j] as usize;
            diff[s] += t.demand[k];
            diff[s + t.duration as usize] -= t.demand[k];
        }
        let mut acc = 0;
        diff.truncate(len);
        for v in &mut diff {
            acc += *v;
            *v = acc;
        }
        diff
    }

    /// Number of tasks finished by the end of each slot `0..makespan`.
    pub fn finished_over_time(&self, inst: &Instance) -> Vec<usize> {
        let len = self.makespan(inst) as usize;
        let mut count = vec![0usize; len + 1];
        for j in 0..self.starts.len() {
            count[self.finish(inst, j) as usize] += 1;
        }
        let mut acc = 0;
        let mut out: Vec<usize> = count[1..]
            .iter()
            .map(|c| {
                acc += c;
                acc
            })
            .collect();
        out.truncate(len);
        out
    }
}

/// The first way a schedule breaks its instance.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// The schedule does not have one start per task.
    #[error("the schedule has {got} start times but the instance has {expected} tasks")]
    TaskCount {
        /// Number of tasks.
        expected: usize,
        /// Number of starts.
        got: usize,
    },
    /// A task runs past the longest horizon an instance may use.
    #[error(
        "task {task} starts at slot {start} and would finish at slot {finish}, beyond the longest supported horizon of {} slots",
        thousands(u64::from(*.limit))
    )]
    BeyondHorizon {
        /// The task.
        task: TaskId,
        /// Its start.
        start: Slot,
        /// Its finish (exclusive), which may not fit a slot number.
        finish: u64,
        /// The horizon limit.
        limit: Slot,
    },
    /// A task starts before its release.
    #[error("task {task} starts at slot {start}, before its release at slot {release}")]
    BeforeRelease {
        /// The task.
        task: TaskId,
        /// Its start.
        start: Slot,
        /// Its release.
        release: Slot,
    },
    /// A task finishes after its deadline.
    #[error("task {task} finishes at slot {finish}, after its deadline at slot {deadline}")]
    AfterDeadline {
        /// The task.
        task: TaskId,
        /// Its finish.
        finish: Slot,
        /// Its deadline.
        deadline: Slot,
    },
    /// A task starts before a predecessor has finished.
    #[error(
        "task {successor} starts at slot {start} but its predecessor {predecessor} finishes at slot {finish}"
    )]
    Precedence {
        /// The predecessor.
        predecessor: TaskId,
        /// The successor.
        successor: TaskId,
        /// Predecessor's finish.
        finish: Slot,
        /// Successor's start.
        start: Slot,
    },
    /// Tasks running together draw more than the capacity of a slot.
    #[error("slot {slot}: {resource} in use is {used}, above the capacity {capacity}, drawn by {}", fmt_ids(.tasks))]
    Capacity {
        /// The resource name.
        resource: String,
        /// The slot.
        slot: Slot,
        /// Total demand in the slot.
        used: i64,
        /// Capacity of the slot.
        capacity: i64,
        /// The tasks running in the slot.
        tasks: Vec<TaskId>,
    },
}

fn fmt_ids(ids: &[TaskId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks precedence, release, deadline and capacity in every slot; returns the
/// first violation (the horizon, release and deadline first, then precedence in
/// task order, then capacity at the earliest slot).
///
/// Exact for any instance and any start slots: finishes are computed in `u64` and
/// usage in `i128`, so nothing wraps; capacity is checked from the start and
/// finish events, so time and memory follow the number of tasks, not the slot
/// numbers.
pub fn validate(inst: &Instance, schedule: &Schedule) -> Result<(), Violation> {
    let tasks = inst.tasks();
    if schedule.starts.len() != tasks.len() {
        return Err(Violation::TaskCount {
            expected: tasks.len(),
            got: schedule.starts.len(),
        });
    }
    let limit = horizon_for(inst.resources().len());
    let finish = |j: usize| u64::from(schedule.starts[j]) + u64::from(tasks[j].duration);
    for (j, t) in tasks.iter().enumerate() {
        if finish(j) > u64::from(limit) {
            return Err(Violation::BeyondHorizon {
                task: t.id.clone(),
                start: schedule.starts[j],
                finish: finish(j),
                limit,
            });
        }
    }
    // From here on every finish fits a `Slot`.
    for (j, t) in tasks.iter().enumerate() {
        let start = schedule.starts[j];
        if start < t.release {
            return Err(Violation::BeforeRelease {
                task: t.id.clone(),
                start,
                release: t.release,
            });
        }
        if let Some(deadline) = t.deadline
            && start + t.duration > deadline
        {
            return Err(Violation::AfterDeadline {
                task: t.id.clone(),
                finish: start + t.duration,
                deadline,
            });
        }
    }
    for (j, t) in tasks.iter().enumerate() {
        for &p in &t.predecessors {
            let finish = schedule.finish(inst, p);
            if schedule.starts[j] < finish {
                return Err(Violation::Precedence {
                    predecessor: tasks[p].id.clone(),
                    successor: t.id.clone(),
                    finish,
                    start: schedule.starts[j],
                });
            }
        }
    }
    let mut first: Option<(Slot, usize, i128)> = None;
    for (k, res) in inst.resources().iter().enumerate() {
        // (slot, change of usage) at every start and finish, in time order.
        let mut events: Vec<(Slot, i128)> = Vec::with_capacity(2 * tasks.len());
        for (j, t) in tasks.iter().enumerate() {
            if t.demand[k] > 0 {
                events.push((schedule.starts[j], i128::from(t.demand[k])));
                events.push((schedule.finish(inst, j), -i128::from(t.demand[k])));
            }
        }
        events.sort_unstable();
        let mut used = 0i128;
        let mut i = 0;
        while i < events.len() {
            let at = events[i].0;
            while i < events.len() && events[i].0 == at {
                used += events[i].1;
                i += 1;
            }
            let until = events.get(i).map_or(at, |e| e.0);
            if first.is_some_and(|(s, _, _)| s <= at) {
                break;
            }
            if used > 0
                && let Some(slot) = res.capacity.first_below(at, until, used)
            {
                if first.is_none_or(|(s, _, _)| slot < s) {
                    first = Some((slot, k, used));
                }
                break;
            }
        }
    }
    if let Some((slot, k, used)) = first {
        let res = &inst.resources()[k];
        let running = tasks
            .iter()
            .enumerate()
            .filter(|(j, t)| {
                t.demand[k] > 0 && schedule.starts[*j] <= slot && slot < schedule.finish(inst, *j)
            })
            .map(|(_, t)| t.id.clone())
            .collect();
        return Err(Violation::Capacity {
            resource: res.name.clone(),
            slot,
            // Within the stated limits (crate::limits) every usage fits an i64.
            used: i64::try_from(used).unwrap_or(i64::MAX),
            capacity: res.capacity.at(slot),
            tasks: running,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{InstanceSpec, Resource, ResourceUnit, Task};
    use crate::profile::{CapacityProfile, Tail};

    fn inst() -> Instance {
        let cap = CapacityProfile::new(vec![5, 5, 3, 5], Tail::Hold).unwrap();
        let t = |n: u32, d: u32, q: i64, p: Vec<usize>| Task {
            id: TaskId::Number(n),
            duration: d,
            demand: vec![q],
            predecessors: p,
            release: 0,
            deadline: None,
        };
        Instance::new(InstanceSpec {
            name: "v".into(),
            resources: vec![Resource {
                name: "R1".into(),
                unit: ResourceUnit::Units,
                capacity: cap,
            }],
            tasks: vec![t(1, 2, 2, vec![]), t(2, 2, 2, vec![0]), t(3, 3, 3, vec![])],
            grid: None,
            power_curves: None,
        })
        .unwrap()
    }

    #[test]
    fn accepts_a_feasible_schedule() {
        let i = inst();
        let s = Schedule::new(vec![0, 2, 3]);
        assert_eq!(validate(&i, &s), Ok(()));
        assert_eq!(s.makespan(&i), 6);
        assert_eq!(s.usage(&i, 0), vec![2, 2, 2, 5, 3, 3]);
        assert_eq!(s.finished_over_time(&i), vec![0, 1, 1, 2, 2, 3]);
    }

    #[test]
    fn names_the_precedence_violation() {
        let err = validate(&inst(), &Schedule::new(vec![0, 1, 4])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "task job 2 starts at slot 1 but its predecessor job 1 finishes at slot 2"
        );
    }

    #[test]
    fn names_the_capacity_violation_at_the_dip() {
        // Jobs 1 (2 units, slots 1-2) and 3 (3 units, slots 0-2) fit in slot 1
        // (capacity 5) but not in slot 2, where the capacity dips to 3.
        let err = validate(&inst(), &Schedule::new(vec![1, 4, 0])).unwrap_err();
        let Violation::Capacity {
            slot,
            used,
            capacity,
            tasks,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!((*slot, *used, *capacity), (2, 5, 3));
        assert_eq!(tasks, &vec![TaskId::Number(1), TaskId::Number(3)]);
        assert!(
            err.to_string()
                .starts_with("slot 2: R1 in use is 5, above the capacity 3"),
            "{err}"
        );
    }
}
