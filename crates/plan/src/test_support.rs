//! Small instances shared by the unit tests of the planners.

use powerslot_core::{
    CapacityProfile, Instance, InstanceSpec, Resource, ResourceUnit, Tail, Task, TaskId,
};

/// One resource `R1` with `capacity` per slot (held or repeating) and tasks given
/// as `(job number, duration, demand, predecessor indices)`.
pub(crate) fn instance(
    capacity: &[i64],
    tail: Tail,
    tasks: &[(u32, u32, i64, &[usize])],
) -> Instance {
    Instance::new(InstanceSpec {
        name: "test".into(),
        resources: vec![Resource {
            name: "R1".into(),
            unit: ResourceUnit::Units,
            capacity: CapacityProfile::new(capacity.to_vec(), tail)
                .expect("test capacity is valid"),
        }],
        tasks: tasks
            .iter()
            .map(|&(n, duration, q, preds)| Task {
                id: TaskId::Number(n),
                duration,
                demand: vec![q],
                predecessors: preds.to_vec(),
                release: 0,
                deadline: None,
            })
            .collect(),
        grid: None,
        power_curves: None,
    })
    .expect("test instance is valid")
}

/// Four tasks (two chains) under a capacity of 4 that dips to 2 in slots 2–3.
pub(crate) fn dip() -> Instance {
    instance(
        &[4, 4, 2, 2, 4],
        Tail::Hold,
        &[
            (1, 2, 3, &[]),
            (2, 3, 2, &[]),
            (3, 1, 4, &[0]),
            (4, 2, 2, &[1]),
        ],
    )
}
