//! The example instances shipped in `examples/` stay valid and keep showing why
//! planning matters: the best planner beats the paper's simplest queue on them.

use std::path::Path;

use powerslot_core::read_instance;
use powerslot_plan::{Options, QueueMethod, Solver, solve};

#[test]
fn home_example_plans_better_than_a_simple_queue() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/home.json"
    ));
    let inst = read_instance(path).expect("examples/home.json is a valid instance");
    let opts = Options {
        schedules: Some(500),
        ..Options::default()
    };
    let queue = solve(&inst, &Solver::Queue(QueueMethod::Simple), &opts).unwrap();
    let best = solve(&inst, &Solver::Best, &opts).unwrap();
    assert!(
        best.makespan < queue.makespan,
        "best {} vs queue {}",
        best.makespan,
        queue.makespan
    );
    assert!(best.makespan >= best.bounds.best());
}
