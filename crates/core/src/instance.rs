//! Tasks, resources and instances.
//!
//! An [`Instance`] is built from an [`InstanceSpec`] by [`Instance::new`], which
//! rejects what no planner could schedule: unknown or cyclic predecessors,
//! negative demands, a demand above every slot's capacity, a task that never finds
//! enough consecutive slots, a release after its deadline. Once built, an instance
//! also holds its successor lists and a topological order.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_RESOURCES, MAX_TASKS, horizon_for, thousands};
use crate::profile::CapacityProfile;
use crate::units::{Slot, TimeGrid};

/// How a task is named to users: the job number of a PSPLIB/Patterson file, or
/// the device id of a native JSON instance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskId {
    /// A job number.
    Number(u32),
    /// A device id or task name.
    Name(String),
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskId::Number(n) => write!(f, "job {n}"),
            TaskId::Name(s) => write!(f, "'{s}'"),
        }
    }
}

/// What a resource's amounts measure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceUnit {
    /// Power in integer milliwatts (resource 0 of device problems).
    Milliwatts,
    /// Abstract units (PSPLIB renewable resources).
    #[default]
    Units,
}

/// A renewable resource: its capacity is available again in every slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// Name for messages, e.g. `power` or `R1`.
    pub name: String,
    /// Unit of demands and capacities.
    #[serde(default)]
    pub unit: ResourceUnit,
    /// Capacity per slot.
    pub capacity: CapacityProfile,
}

impl Resource {
    /// Formats an amount of this resource for messages.
    pub fn fmt_amount(&self, amount: i64) -> String {
        match self.unit {
            ResourceUnit::Milliwatts => format!("{amount} mW"),
            ResourceUnit::Units => format!("{amount} units"),
        }
    }
}

/// A non-preemptive task: once started it runs `duration` consecutive slots and
/// draws `demand[k]` of resource `k` in each of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// User-facing name.
    pub id: TaskId,
    /// Duration in slots (at least 1).
    pub duration: u32,
    /// Demand per resource, one entry per resource of the instance.
    pub demand: Vec<i64>,
    /// Indices (into the instance's tasks) of tasks that must finish before this starts.
    #[serde(default)]
    pub predecessors: Vec<usize>,
    /// Earliest start slot.
    #[serde(default)]
    pub release: Slot,
    /// Latest finish slot (the task must end at or before it), if any.
    #[serde(default)]
    pub deadline: Option<Slot>,
}

/// Everything an instance is made of, before it is checked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// Instance name (file stem, scenario name).
    pub name: String,
    /// Resources with their capacity profiles.
    pub resources: Vec<Resource>,
    /// The tasks.
    pub tasks: Vec<Task>,
    /// The time grid; `None` for abstract instances such as PSPLIB.
    #[serde(default)]
    pub grid: Option<TimeGrid>,
    /// For device problems, the budget and baseline curves the power capacity was
    /// derived from (kept for plots and reports).
    #[serde(default)]
    pub power_curves: Option<PowerCurves>,
}

/// The two curves of a device problem: capacity = max(0, budget − baseline).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerCurves {
    /// Maximum allowable power (e.g. solar plus battery), milliwatts.
    pub budget_mw: CapacityProfile,
    /// Load of devices that are not scheduled, milliwatts.
    pub baseline_mw: CapacityProfile,
}

/// Why an instance cannot be scheduled as given. Each variant names the task(s).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// An instance needs at least one resource.
    #[error("the instance has no resources")]
    NoResources,
    /// More resources than [`MAX_RESOURCES`].
    #[error("the instance has {count} resources; at most {MAX_RESOURCES} are supported")]
    TooManyResources {
        /// The number of resources.
        count: usize,
    },
    /// More tasks than [`MAX_TASKS`].
    #[error("the instance has {} tasks; at most {} are supported", thousands(*.count as u64), thousands(MAX_TASKS as u64))]
    TooManyTasks {
        /// The number of tasks.
        count: usize,
    },
    /// A release, deadline or duration reaches past the longest horizon the
    /// planners keep (see [`crate::limits`]).
    #[error(
        "task {task} {what}, beyond the longest supported horizon of {} slots (for {resources} resource(s))",
        thousands(u64::from(*.limit))
    )]
    BeyondHorizon {
        /// The task.
        task: TaskId,
        /// What reaches too far, e.g. `is released at slot 1,000,000,000`.
        what: String,
        /// The horizon limit in slots.
        limit: Slot,
        /// The number of resources the limit is for.
        resources: usize,
    },
    /// A task's demand vector does not have one entry per resource.
    #[error("task {task} has {got} demands but the instance has {expected} resources")]
    DemandCount {
        /// The task.
        task: TaskId,
        /// Its number of demands.
        got: usize,
        /// Number of resources.
        expected: usize,
    },
    /// A demand is negative.
    #[error("task {task} has a negative demand {demand} on resource {resource}")]
    NegativeDemand {
        /// The task.
        task: TaskId,
        /// The resource name.
        resource: String,
        /// The value.
        demand: i64,
    },
    /// A task lasts zero slots.
    #[error("task {task} has duration 0; every task must last at least one slot")]
    ZeroDuration {
        /// The task.
        task: TaskId,
    },
    /// Two tasks share an id.
    #[error("two tasks are named {task}")]
    DuplicateId {
        /// The id.
        task: TaskId,
    },
    /// A predecessor index is out of range or the task itself.
    #[error("task {task} names a predecessor that does not exist or is itself (index {index})")]
    BadPredecessor {
        /// The task.
        task: TaskId,
        /// The bad index.
        index: usize,
    },
    /// The precedence graph has a cycle.
    #[error("the precedences form a cycle: {}", fmt_cycle(.cycle))]
    Cycle {
        /// The tasks on the cycle, in order; the first follows the last.
        cycle: Vec<TaskId>,
    },
    /// A demand is above the capacity of every slot.
    #[error(
        "task {task} needs {demand} of {resource} but the capacity never exceeds {max_capacity}"
    )]
    DemandAboveCapacity {
        /// The task.
        task: TaskId,
        /// The resource name.
        resource: String,
        /// The demand, formatted with its unit.
        demand: String,
        /// The largest capacity, formatted with its unit.
        max_capacity: String,
    },
    /// There is no window of `duration` consecutive slots (after release, before
    /// deadline) in which every capacity covers the task's demand.
    #[error(
        "task {task} can never fit: it needs {duration} consecutive slots with enough capacity{window}, and the capacity profile never offers them"
    )]
    NeverFits {
        /// The task.
        task: TaskId,
        /// Its duration.
        duration: u32,
        /// The release/deadline window, described.
        window: String,
    },
    /// Release and deadline leave less room than the duration.
    #[error(
        "task {task} is released at slot {release} and must finish by slot {deadline}, shorter than its {duration} slots"
    )]
    WindowTooShort {
        /// The task.
        task: TaskId,
        /// Release slot.
        release: Slot,
        /// Deadline slot.
        deadline: Slot,
        /// Duration.
        duration: u32,
    },
}

fn fmt_cycle(cycle: &[TaskId]) -> String {
    let mut s: Vec<String> = cycle.iter().map(ToString::to_string).collect();
    if let Some(first) = s.first().cloned() {
        s.push(first);
    }
    s.join(" → ")
}

/// A checked instance. Its tasks are indexed `0..n`; [`Instance::topological_order`]
/// lists them so that every predecessor comes first.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    spec: InstanceSpec,
    successors: Vec<Vec<usize>>,
    topo: Vec<usize>,
}

/// How far a "never fits" check scans a capacity profile before giving up.
const FIT_SCAN_LIMIT: usize = 1 << 22;

impl Instance {
    /// Checks `spec` and builds the instance.
    pub fn new(spec: InstanceSpec) -> Result<Self, ModelError> {
        let m = spec.resources.len();
        if m == 0 {
            return Err(ModelError::NoResources);
        }
        if m > MAX_RESOURCES {
            return Err(ModelError::TooManyResources { count: m });
        }
        let n = spec.tasks.len();
        if n > MAX_TASKS {
            return Err(ModelError::TooManyTasks { count: n });
        }
        let horizon = horizon_for(m);
        let beyond = |t: &Task, what: String| ModelError::BeyondHorizon {
            task: t.id.clone(),
            what,
            limit: horizon,
            resources: m,
        };
        let mut seen = std::collections::HashSet::new();
        for t in &spec.tasks {
            if !seen.insert(&t.id) {
                return Err(ModelError::DuplicateId { task: t.id.clone() });
            }
            if t.demand.len() != m {
                return Err(ModelError::DemandCount {
                    task: t.id.clone(),
                    got: t.demand.len(),
                    expected: m,
                });
            }
            if t.duration == 0 {
                return Err(ModelError::ZeroDuration { task: t.id.clone() });
            }
            if u64::from(t.release) + u64::from(t.duration) > u64::from(horizon) {
                let what = if t.release == 0 {
                    format!("lasts {} slots", thousands(u64::from(t.duration)))
                } else {
                    format!(
                        "is released at slot {} and lasts {} slots",
                        thousands(u64::from(t.release)),
                        thousands(u64::from(t.duration))
                    )
                };
                return Err(beyond(t, what));
            }
            if let Some(dl) = t.deadline
                && dl > horizon
            {
                return Err(beyond(
                    t,
                    format!("has its deadline at slot {}", thousands(u64::from(dl))),
                ));
            }
            for (k, &d) in t.demand.iter().enumerate() {
                if d < 0 {
                    return Err(ModelError::NegativeDemand {
                        task: t.id.clone(),
                        resource: spec.resources[k].name.clone(),
                        demand: d,
                    });
                }
                let res = &spec.resources[k];
                if d > res.capacity.max() {
                    return Err(ModelError::DemandAboveCapacity {
                        task: t.id.clone(),
                        resource: res.name.clone(),
                        demand: res.fmt_amount(d),
                        max_capacity: res.fmt_amount(res.capacity.max()),
                    });
                }
            }
            if let Some(dl) = t.deadline
                && u64::from(t.release) + u64::from(t.duration) > u64::from(dl)
            {
                return Err(ModelError::WindowTooShort {
                    task: t.id.clone(),
                    release: t.release,
                    deadline: dl,
                    duration: t.duration,
                });
            }
            for &p in &t.predecessors {
                if p >= n || spec.tasks[p].id == t.id {
                    return Err(ModelError::BadPredecessor {
                        task: t.id.clone(),
                        index: p,
                    });
                }
            }
        }
        // Each (predecessor, task) pair once, so a task listing a predecessor twice and
        // a hub with many successors both cost linear time.
        let mut spec = spec;
        for t in &mut spec.tasks {
            t.predecessors.sort_unstable();
            t.predecessors.dedup();
        }
        let mut successors = vec![Vec::new(); n];
        for (j, t) in spec.tasks.iter().enumerate() {
            for &p in &t.predecessors {
                successors[p].push(j);
            }
        }
        let topo = topological_order(&spec.tasks, &successors)?;
        // The longest chain must fit the horizon too; computed in u64 so it cannot wrap.
        let mut finish = vec![0u64; n];
        for &j in &topo {
            let t = &spec.tasks[j];
            let ready = t.predecessors.iter().map(|&p| finish[p]).max().unwrap_or(0);
            finish[j] = ready.max(u64::from(t.release)) + u64::from(t.duration);
            if finish[j] > u64::from(horizon) {
                return Err(beyond(
                    t,
                    format!(
                        "cannot finish before slot {} (its chain of predecessors and releases)",
                        thousands(finish[j])
                    ),
                ));
            }
        }
        for t in &spec.tasks {
            check_fits(t, &spec.resources)?;
        }
        Ok(Self {
            spec,
            successors,
            topo,
        })
    }

    /// The instance's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// The tasks, indexed `0..n`.
    pub fn tasks(&self) -> &[Task] {
        &self.spec.tasks
    }
    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.spec.tasks.len()
    }
    /// Whether there are no tasks.
    pub fn is_empty(&self) -> bool {
        self.spec.tasks.is_empty()
    }
    /// The resources.
    pub fn resources(&self) -> &[Resource] {
        &self.spec.resources
    }
    /// Successors of task `j` (tasks that list `j` as a predecessor).
    pub fn successors(&self, j: usize) -> &[usize] {
        &self.successors[j]
    }
    /// All tasks in an order where each predecessor comes before its successors.
    pub fn topological_order(&self) -> &[usize] {
        &self.topo
    }
    /// The time grid, if the instance has one.
    pub fn grid(&self) -> Option<TimeGrid> {
        self.spec.grid
    }
    /// Budget and baseline curves of a device problem.
    pub fn power_curves(&self) -> Option<&PowerCurves> {
        self.spec.power_curves.as_ref()
    }
    /// The spec the instance was built from.
    pub fn spec(&self) -> &InstanceSpec {
        &self.spec
    }
    /// Whether every resource has the same capacity in every slot.
    pub fn has_constant_capacity(&self) -> bool {
        self.spec.resources.iter().all(|r| r.capacity.is_constant())
    }
    /// Index of the task with `id`.
    pub fn index_of(&self, id: &TaskId) -> Option<usize> {
        self.spec.tasks.iter().position(|t| &t.id == id)
    }

    /// Earliest start of every task from precedence and release alone (no resources).
    pub fn earliest_starts(&self) -> Vec<Slot> {
        let tasks = &self.spec.tasks;
        let mut es = vec![0; tasks.len()];
        for &j in &self.topo {
            let t = &tasks[j];
            let from_preds = t
                .predecessors
                .iter()
                .map(|&p| es[p] + tasks[p].duration)
                .max()
                .unwrap_or(0);
            es[j] = from_preds.max(t.release);
        }
        es
    }

    /// Length of the longest precedence chain, releases included (the critical-path bound).
    pub fn critical_path_length(&self) -> Slot {
        let es = self.earliest_starts();
        es.iter()
            .zip(&self.spec.tasks)
            .map(|(s, t)| s + t.duration)
            .max()
            .unwrap_or(0)
    }

    /// Sum of all durations.
    pub fn total_duration(&self) -> u64 {
        self.spec.tasks.iter().map(|t| u64::from(t.duration)).sum()
    }
}

fn topological_order(tasks: &[Task], successors: &[Vec<usize>]) -> Result<Vec<usize>, ModelError> {
    let n = tasks.len();
    // Predecessor lists are deduplicated by `Instance::new`.
    let mut indeg: Vec<usize> = tasks.iter().map(|t| t.predecessors.len()).collect();
    let mut ready: std::collections::VecDeque<usize> = (0..n).filter(|&j| indeg[j] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(j) = ready.pop_front() {
        order.push(j);
        for &s in &successors[j] {
            indeg[s] -= 1;
            if indeg[s] == 0 {
                ready.push_back(s);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk predecessors among the unfinished tasks until one repeats: that is a cycle.
    let left: Vec<bool> = (0..n).map(|j| indeg[j] > 0).collect();
    let start = (0..n).find(|&j| left[j]).expect("some task is left");
    let mut pos = vec![usize::MAX; n];
    let mut path = Vec::new();
    let mut cur = start;
    while pos[cur] == usize::MAX {
        pos[cur] = path.len();
        path.push(cur);
        cur = *tasks[cur]
            .predecessors
            .iter()
            .find(|&&p| left[p])
            .expect("a blocked task has a blocked predecessor");
    }
    let mut cycle: Vec<TaskId> = path[pos[cur]..]
        .iter()
        .map(|&j| tasks[j].id.clone())
        .collect();
    cycle.reverse(); // predecessor walk goes backwards; report in precedence order
    Err(ModelError::Cycle { cycle })
}

/// Checks that `task` finds `duration` consecutive slots, between its release and
/// its deadline, in which every resource's capacity covers its demand.
fn check_fits(task: &Task, resources: &[Resource]) -> Result<(), ModelError> {
    let d = task.duration as usize;
    let start = task.release as usize;
    let settle = resources
        .iter()
        .map(|r| r.capacity.settle())
        .max()
        .unwrap_or(1);
    let period = resources
        .iter()
        .map(|r| r.capacity.period())
        .fold(1usize, |a, b| a / gcd(a, b) * b);
    let mut end = start + settle + 2 * period.max(d) + d;
    if let Some(dl) = task.deadline {
        end = end.min(dl as usize);
    }
    let end = end.min(start + FIT_SCAN_LIMIT);
    let mut run = 0usize;
    for s in start..end {
        let ok = resources
            .iter()
            .zip(&task.demand)
            .all(|(r, &q)| r.capacity.at(s as Slot) >= q);
        run = if ok { run + 1 } else { 0 };
        if run >= d {
            return Ok(());
        }
    }
    let window = match task.deadline {
        Some(dl) => format!(" between slot {} and slot {dl}", task.release),
        None if task.release > 0 => format!(" from slot {} on", task.release),
        None => String::new(),
    };
    Err(ModelError::NeverFits {
        task: task.id.clone(),
        duration: task.duration,
        window,
    })
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Tail;

    fn res(cap: CapacityProfile) -> Resource {
        Resource {
            name: "power".into(),
            unit: ResourceUnit::Milliwatts,
            capacity: cap,
        }
    }

    fn task(name: &str, duration: u32, demand: i64, preds: Vec<usize>) -> Task {
        Task {
            id: TaskId::Name(name.into()),
            duration,
            demand: vec![demand],
            predecessors: preds,
            release: 0,
            deadline: None,
        }
    }

    fn spec(tasks: Vec<Task>, cap: CapacityProfile) -> InstanceSpec {
        InstanceSpec {
            name: "t".into(),
            resources: vec![res(cap)],
            tasks,
            grid: None,
            power_curves: None,
        }
    }

    #[test]
    fn reports_a_cycle_by_name() {
        let tasks = vec![
            task("a", 1, 1, vec![2]),
            task("b", 1, 1, vec![0]),
            task("c", 1, 1, vec![1]),
        ];
        let err = Instance::new(spec(tasks, CapacityProfile::constant(5).unwrap())).unwrap_err();
        let ModelError::Cycle { cycle } = &err else {
            panic!("{err}")
        };
        assert_eq!(cycle.len(), 3);
        assert!(err.to_string().contains("'a'"), "{err}");
    }

    #[test]
    fn reports_demand_above_capacity() {
        let err = Instance::new(spec(
            vec![task("heater", 1, 9000, vec![])],
            CapacityProfile::constant(5000).unwrap(),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("'heater' needs 9000 mW"), "{err}");
    }

    #[test]
    fn reports_a_task_that_never_fits() {
        // Capacity reaches 10 only for 2 slots of every 6; a 3-slot task at 10 never fits.
        let cap = CapacityProfile::new(vec![0, 10, 10, 0, 0, 0], Tail::Repeat).unwrap();
        let err = Instance::new(spec(vec![task("pump", 3, 10, vec![])], cap.clone())).unwrap_err();
        assert!(matches!(err, ModelError::NeverFits { .. }), "{err}");
        Instance::new(spec(vec![task("pump", 2, 10, vec![])], cap)).unwrap();
    }

    #[test]
    fn critical_path_follows_chains_and_releases() {
        let mut t = vec![
            task("a", 3, 1, vec![]),
            task("b", 2, 1, vec![0]),
            task("c", 1, 1, vec![]),
        ];
        t[2].release = 7;
        let inst = Instance::new(spec(t, CapacityProfile::constant(5).unwrap())).unwrap();
        assert_eq!(inst.earliest_starts(), vec![0, 3, 7]);
        assert_eq!(inst.critical_path_length(), 8);
        assert_eq!(inst.successors(0), &[1]);
    }
}
