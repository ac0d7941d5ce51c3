//! The DP against brute force (small cases, property-based) and an exact MILP (medium cases).

use good_lp::{Expression, Solution, SolverModel, constraint, microlp, variable, variables};
use powerslot_harvest::{
    Battery, DpInput, DpScheduler, DutyCycleModel, GainRounding, KansalPlanner, TaskScheduler,
};
use proptest::prelude::*;

/// Best utility by enumerating every assignment (`n^k` of them).
fn brute_force(input: &DpInput<'_>) -> Option<f64> {
    let n = input.utilities.len();
    let k = input.gains.len() / n;
    let mut best: Option<f64> = None;
    for code in 0..n.pow(k as u32) {
        let (mut c, mut b, mut u) = (code, i64::from(input.start), 0.0);
        let mut ok = true;
        for i in 0..k {
            let j = c % n;
            c /= n;
            b += i64::from(input.gains[i * n + j]);
            if b < 0 {
                ok = false;
                break;
            }
            b = b.min(i64::from(input.top));
            u += input.utilities[j];
        }
        if ok && b >= i64::from(input.target) && best.is_none_or(|x| u > x) {
            best = Some(u);
        }
    }
    best
}

#[test]
fn matches_brute_force_on_a_hand_case() {
    // 3 tasks (off, low, high), 4 slots: night, sun, sun, night.
    let utilities = [0.0, 1.0, 3.0];
    let gains = [-0, -1, -3, 4, 3, 1, 4, 3, 1, 0, -1, -3];
    let input = DpInput {
        utilities: &utilities,
        gains: &gains,
        top: 6,
        start: 2,
        target: 2,
    };
    let mut dp = DpScheduler::new();
    let plan = dp.solve(&input).unwrap();
    assert_eq!(Some(plan.utility), brute_force(&input));
    assert_eq!(plan.levels.len(), 5);
    assert!(plan.levels[4] >= 2);
}

/// The same problem as a MILP: x[i][j] binary, one task per slot, B(i+1) = B(i) + Σ g·x − w(i)
/// with waste w ≥ 0 and 0 ≤ B ≤ top. Voluntary waste never helps (the transition is monotone in
/// B and every constraint is a lower bound), so the optimum equals the capped model's.
fn milp(input: &DpInput<'_>) -> Option<f64> {
    let n = input.utilities.len();
    let k = input.gains.len() / n;
    let mut vars = variables!();
    let x: Vec<Vec<_>> = (0..k)
        .map(|_| (0..n).map(|_| vars.add(variable().binary())).collect())
        .collect();
    let level: Vec<_> = (0..=k)
        .map(|_| vars.add(variable().min(0.0).max(f64::from(input.top))))
        .collect();
    // Waste can only come out of a slot's own surplus: bounding it tightens the relaxation.
    let waste: Vec<_> = (0..k)
        .map(|i| {
            let most = input.gains[i * n..(i + 1) * n]
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
                .max(0);
            vars.add(variable().min(0.0).max(f64::from(most)))
        })
        .collect();
    let objective: Expression = (0..k)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| input.utilities[j] * x[i][j])
        .sum();
    let mut model = vars.maximise(objective.clone()).using(microlp);
    model = model.with(constraint!(level[0] == f64::from(input.start)));
    model = model.with(constraint!(level[k] >= f64::from(input.target)));
    for i in 0..k {
        let one: Expression = x[i].iter().map(|&v| Expression::from(v)).sum();
        model = model.with(constraint!(one == 1.0));
        let gain: Expression = (0..n)
            .map(|j| f64::from(input.gains[i * n + j]) * x[i][j])
            .sum();
        model = model.with(constraint!(level[i + 1] == level[i] + gain - waste[i]));
    }
    let solution = model.solve().ok()?;
    Some(solution.eval(&objective))
}

/// A deterministic generator (SplitMix64), so the medium cases are fixed by their seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

fn check_plan(input: &DpInput<'_>, plan: &powerslot_harvest::DpPlan) {
    let n = input.utilities.len();
    assert_eq!(plan.levels[0], input.start);
    let mut u = 0.0;
    for (i, &j) in plan.assignment.iter().enumerate() {
        let after = i64::from(plan.levels[i]) + i64::from(input.gains[i * n + j]);
        assert!(after >= 0, "slot {i} goes below B_min");
        assert_eq!(
            i64::from(plan.levels[i + 1]),
            after.min(i64::from(input.top))
        );
        u += input.utilities[j];
    }
    assert!(*plan.levels.last().unwrap() >= input.target);
    assert!((u - plan.utility).abs() < 1e-9);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn dp_equals_brute_force(
        k in 1usize..=6,
        n in 1usize..=3,
        top in 1u32..=12,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let utilities: Vec<f64> = (0..n).map(|_| rng.range(0, 10) as f64).collect();
        let gains: Vec<i32> = (0..k * n).map(|_| rng.range(-5, 5) as i32).collect();
        let start = rng.range(0, i64::from(top)) as u32;
        let target = rng.range(0, i64::from(top)) as u32;
        let input = DpInput { utilities: &utilities, gains: &gains, top, start, target };
        let mut dp = DpScheduler::new();
        match (dp.solve(&input), brute_force(&input)) {
            (Ok(plan), Some(best)) => {
                prop_assert!((plan.utility - best).abs() < 1e-9);
                check_plan(&input, &plan);
            }
            (Err(_), None) => {}
            (got, want) => prop_assert!(false, "dp {got:?} vs brute force {want:?}"),
        }
    }

    /// Whenever the policy names a task from some level, following the policy from there ends
    /// at or above the target without going below B_min.
    #[test]
    fn policy_is_closed_loop_feasible(seed in any::<u64>()) {
        let mut rng = Rng(seed);
        let (k, n, top) = (8usize, 3usize, 20u32);
        let utilities: Vec<f64> = (0..n).map(|_| rng.range(0, 10) as f64).collect();
        let gains: Vec<i32> = (0..k * n).map(|_| rng.range(-6, 6) as i32).collect();
        let input = DpInput { utilities: &utilities, gains: &gains, top, start: 10, target: 10 };
        let mut dp = DpScheduler::new();
        let _ = dp.solve(&input);
        for first in 0..=top {
            if dp.policy(0, first).is_none() {
                continue;
            }
            let mut b = i64::from(first);
            for i in 0..k {
                let j = dp.policy(i, b as u32).expect("a feasible state stays feasible");
                b = (b + i64::from(gains[i * n + j])).min(i64::from(top));
                prop_assert!(b >= 0);
            }
            prop_assert!(b >= 10);
        }
    }

    /// On a day Kansal can plan, the DP's plan on the same tasks and prediction has at least
    /// Kansal's utility whenever Kansal's plan is feasible in the DP's quantised model.
    #[test]
    fn dp_never_below_kansal(sun in proptest::collection::vec(0.0f64..12.0, 12), start in 30.0f64..70.0) {
        let battery = Battery::new(10.0, 100.0, 0.9, 0.05).unwrap();
        let load = DutyCycleModel::new(0.2, 1.0, 1.0, 5.0, 1.0, 6.0).unwrap();
        let (n, levels) = (5usize, 901u32);
        let tasks = load.tasks(n, 1.0).unwrap();
        let kansal = KansalPlanner { model: load, battery, slot_length: 1.0, levels: Some(n) };
        let Ok(kp) = kansal.plan(&sun, start, start) else { return Ok(()) };
        let mut dp = TaskScheduler::new(battery, levels, tasks.clone(), GainRounding::Conservative).unwrap();
        let q = *dp.quantizer();
        let gains = q.gains(&battery, &sun, &tasks, GainRounding::Conservative);
        let duty = load.duty_levels(n).unwrap();
        let assignment: Vec<usize> = kp.duty_cycles.iter()
            .map(|d| duty.iter().position(|l| (l - d).abs() < 1e-9).expect("snapped"))
            .collect();
        let start_level = q.level(start).unwrap();
        let mut b = i64::from(start_level);
        let mut feasible = true;
        for (i, &j) in assignment.iter().enumerate() {
            b += i64::from(gains[i * n + j]);
            if b < 0 { feasible = false; break; }
            b = b.min(i64::from(q.top()));
        }
        if feasible && b >= i64::from(start_level) {
            let plan = dp.plan(&sun, start, start).expect("Kansal's plan is a witness");
            prop_assert!(plan.utility + 1e-9 >= kp.utility, "dp {} < kansal {}", plan.utility, kp.utility);
        }
    }
}

#[test]
fn dp_equals_milp_on_medium_cases() {
    for seed in 0..8u64 {
        let mut rng = Rng(seed);
        let (k, n, top) = (14usize, 3usize, 40u32);
        // Tasks cheapest-first with rising utility; production high in the middle of the day.
        // Distinct, non-round utilities avoid the symmetric optima that slow branch and bound.
        let utilities: Vec<f64> = (0..n)
            .map(|j| 3.1 * j as f64 + 0.01 * rng.range(0, 90) as f64)
            .collect();
        let mut gains = Vec::with_capacity(k * n);
        for i in 0..k {
            let sun = if (4..12).contains(&i) {
                rng.range(0, 12)
            } else {
                0
            };
            for j in 0..n {
                gains.push((sun - 1 - 2 * j as i64) as i32);
            }
        }
        let start = rng.range(10, 40) as u32;
        let input = DpInput {
            utilities: &utilities,
            gains: &gains,
            top,
            start,
            target: start,
        };
        let mut dp = DpScheduler::new();
        let got = dp.solve(&input);
        let want = milp(&input);
        match (got, want) {
            (Ok(plan), Some(best)) => {
                assert!(
                    (plan.utility - best).abs() < 1e-6,
                    "seed {seed}: dp {} vs milp {best}",
                    plan.utility
                );
                check_plan(&input, &plan);
            }
            (Err(_), None) => {}
            (got, want) => panic!("seed {seed}: dp {got:?} vs milp {want:?}"),
        }
    }
}

#[test]
fn table_memory_for_the_issue_size() {
    // 96 slots × 1,024 levels: one policy byte per cell plus two f64 rows.
    assert_eq!(DpScheduler::table_bytes(96, 1024), 96 * 1024 + 2 * 1024 * 8);
    let battery = Battery::new(1.0, 10.0, 0.9, 0.0).unwrap();
    let load = DutyCycleModel::new(0.1, 1.0, 1.0, 10.0, 0.02, 0.2).unwrap();
    let mut dp = TaskScheduler::new(
        battery,
        1024,
        load.tasks(4, 0.25).unwrap(),
        GainRounding::Conservative,
    )
    .unwrap();
    let day: Vec<f64> = (0..96)
        .map(|s| if (28..68).contains(&s) { 0.1 } else { 0.0 })
        .collect();
    let plan = dp.plan(&day, 5.0, 5.0).unwrap();
    assert_eq!(plan.assignment.len(), 96);
    assert!(dp.dp().allocated_bytes() >= DpScheduler::table_bytes(96, 1024));
}
