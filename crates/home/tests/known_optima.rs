//! Small days whose optimum is known by hand, an infeasible day, and brute force against the
//! exact search on random tiny days. Every plan also passes the independent check.

use powerslot_home::{
    Day, Method, Objective, Options, Solver, Status, figures, parse_day, plan_day, violations,
};

fn day(text: &str) -> Day {
    parse_day(text, "test").unwrap()
}

/// Plans with every solver this build has; they must agree on proven optima. Returns the
/// default solver's plan.
fn plan(d: &Day, objective: Objective, method: Method) -> powerslot_home::DayPlan {
    let mut outs = Vec::new();
    for solver in [Solver::MicroLp, Solver::Highs] {
        if solver == Solver::Highs && !powerslot_home::HIGHS {
            continue;
        }
        let out = plan_day(
            d,
            &Options {
                objective,
                method,
                solver,
                ..Options::default()
            },
        )
        .unwrap();
        check(d, &out, method, objective);
        outs.push((solver, out));
    }
    if let [(_, a), (_, b)] = &outs[..]
        && a.status == Status::Optimal
        && b.status == Status::Optimal
    {
        assert!(
            (a.objective - b.objective).abs() <= 1e-5 * a.objective.abs().max(1.0),
            "{method:?} {objective:?}: microlp {} HiGHS {}",
            a.objective,
            b.objective
        );
    }
    let default = Solver::default();
    outs.into_iter()
        .find(|(s, _)| *s == default)
        .map(|(_, o)| o)
        .unwrap()
}

fn check(d: &Day, out: &powerslot_home::DayPlan, method: Method, objective: Objective) {
    let dropped: Vec<usize> = out
        .dropped
        .iter()
        .map(|n| d.load_index(n).unwrap())
        .collect();
    let v = violations(d, &out.plan, &dropped);
    assert!(v.is_empty(), "{method:?} {objective:?}: {v:?}");
    assert!(out.bound <= out.objective + 1e-9);
}

#[test]
fn two_blocks_under_a_limit_take_the_two_cheapest_hours_one_each() {
    let d = day(
        r#"{"step_minutes": 60, "n_steps": 3, "pv_w": [0,0,0], "base_load_w": [0,0,0],
        "import_price": [0.1,0.2,0.3], "export_price": [0,0,0], "grid_import_limit_w": 3000,
        "loads": [{"name": "a", "power_w": 2000, "steps": 1},
                  {"name": "b", "power_w": 2000, "steps": 1}]}"#,
    );
    for m in [Method::Exact, Method::Heuristic, Method::Auto] {
        let out = plan(&d, Objective::Cost, m);
        assert!(
            (out.figures.bill - 0.6).abs() < 1e-9,
            "{m:?}: {}",
            out.figures.bill
        );
        // The heuristic alone has only the LP bound (0.5 here), so it cannot prove it.
        if m != Method::Heuristic {
            assert_eq!(out.status, Status::Optimal);
        }
    }
}

#[test]
fn a_lossless_battery_moves_one_kwh_to_the_cheap_hour_and_a_lossy_one_less() {
    let text = r#"{"step_minutes": 60, "n_steps": 2, "pv_w": [0,0], "base_load_w": [1000,1000],
        "import_price": [0.1,0.3], "export_price": [0,0], "grid_import_limit_w": 9000,
        "battery": {"capacity_wh": 2000, "charge_w": 1000, "discharge_w": 1000,
          "eff_charge": EFF, "eff_discharge": EFF, "soc_min": 0, "soc_max": 1,
          "soc_init": 0, "soc_final": 0},
        "loads": []}"#;
    let out = plan(
        &day(&text.replace("EFF", "1.0")),
        Objective::Cost,
        Method::Auto,
    );
    assert!(
        (out.figures.bill - 0.2).abs() < 1e-9,
        "{}",
        out.figures.bill
    );
    assert_eq!(out.plan.battery_w, vec![-1000.0, 1000.0]);
    // 1 kWh in stores 0.9, gives back 0.81: 0.1 × 2 + 0.3 × 0.19 = 0.257.
    let out = plan(
        &day(&text.replace("EFF", "0.9")),
        Objective::Cost,
        Method::Auto,
    );
    assert!(
        (out.figures.bill - 0.257).abs() < 1e-6,
        "{}",
        out.figures.bill
    );
}

#[test]
fn peak_makespan_and_import_objectives_reach_their_hand_optima() {
    let d = day(r#"{"step_minutes": 60, "n_steps": 4, "pv_w": [0,0,1500,0],
        "base_load_w": [1000,0,0,1000], "import_price": [0.1,0.1,0.1,0.1],
        "export_price": [0,0,0,0], "grid_import_limit_w": 9000,
        "loads": [{"name": "heater", "power_w": 2000, "steps": 2,
                   "semi_continuous": true, "single_block": false}]}"#);
    let peak = plan(&d, Objective::Peak, Method::Auto);
    assert_eq!(peak.figures.peak_import_w, 2000.0);
    let mk = plan(&d, Objective::Makespan, Method::Auto);
    assert_eq!(mk.figures.makespan, 2);
    // Import: one step in the sun (500 W drawn) and one at night (2000 W): 2.5 + 2 kWh base.
    let imp = plan(&d, Objective::Import, Method::Auto);
    assert!(
        (imp.figures.import_kwh - 4.5).abs() < 1e-9,
        "{}",
        imp.figures.import_kwh
    );
}

#[test]
fn an_optional_load_runs_only_when_worth_its_value() {
    let text = r#"{"step_minutes": 60, "n_steps": 1, "pv_w": [0], "base_load_w": [0],
        "import_price": [0.5], "export_price": [0], "grid_import_limit_w": 9000,
        "loads": [{"name": "pool", "power_w": 1000, "steps": 1, "max_cost": VALUE}]}"#;
    let cheap = plan(
        &day(&text.replace("VALUE", "0.4")),
        Objective::Cost,
        Method::Auto,
    );
    assert_eq!(cheap.dropped, vec!["pool".to_string()]);
    let worth = plan(
        &day(&text.replace("VALUE", "0.6")),
        Objective::Cost,
        Method::Auto,
    );
    assert!(worth.dropped.is_empty());
    assert_eq!(worth.figures.bill, 0.5);
}

#[test]
fn an_ev_takes_energy_beyond_its_need_only_where_it_is_worth_more_than_it_costs() {
    // 3 kWh of PV at noon, exported at 0.05; grid at 0.30. The car needs 2 kWh and may take
    // 4 kWh more, each worth VALUE: at 0.10 it soaks up the third PV kWh rather than export it
    // (and no grid kWh), at 0.04 export pays more and it takes its need alone.
    let text = r#"{"step_minutes": 60, "n_steps": 4, "pv_w": [0, 1500, 1500, 0],
        "base_load_w": [0, 0, 0, 0], "import_price": [0.3, 0.3, 0.3, 0.3],
        "export_price": [0.05, 0.05, 0.05, 0.05], "grid_import_limit_w": 9000,
        "loads": [{"name": "ev", "power_w": 2000, "steps": 1, "semi_continuous": false,
                   "extra_energy_wh": 4000, "extra_energy_value": VALUE}]}"#;
    for (value, energy_wh, bill, objective) in
        [("0.10", 3000.0, 0.0, -0.10), ("0.04", 2000.0, -0.05, -0.05)]
    {
        let d = day(&text.replace("VALUE", value));
        for m in [Method::Exact, Method::Heuristic, Method::Auto] {
            let out = plan(&d, Objective::Cost, m);
            let e: f64 = out.plan.loads[0].1.iter().sum();
            assert!((e - energy_wh).abs() < 1e-6, "{value} {m:?}: {e} Wh");
            assert!((out.figures.bill - bill).abs() < 1e-9, "{value} {m:?}");
            assert!((out.objective - objective).abs() < 1e-9, "{value} {m:?}");
        }
    }
}

#[test]
fn an_infeasible_day_names_the_grid_limit_and_serves_what_fits() {
    let d = day(
        r#"{"step_minutes": 60, "n_steps": 2, "pv_w": [0,0], "base_load_w": [0,0],
        "import_price": [0.1,0.1], "export_price": [0,0], "grid_import_limit_w": 4000,
        "loads": [{"name": "a", "power_w": 3000, "steps": 1, "start": 0, "end": 1},
                  {"name": "b", "power_w": 3000, "steps": 1, "start": 0, "end": 1},
                  {"name": "c", "power_w": 1000, "steps": 1, "start": 0, "end": 2}]}"#,
    );
    for m in [Method::Auto, Method::Heuristic] {
        let out = plan(&d, Objective::Cost, m);
        assert_eq!(out.status, Status::Infeasible);
        assert_eq!(out.dropped.len(), 1, "{:?}", out.dropped);
        assert!(out.dropped[0] == "a" || out.dropped[0] == "b");
        let b = out.binding.unwrap();
        assert!(b.starts_with("grid import limit"), "{b}");
        assert!(
            b.contains("00:00 (6000 W)") || b.contains("00:00 (7000 W)"),
            "{b}"
        );
    }
}

#[test]
fn when_the_day_does_not_fit_the_lower_priority_load_is_dropped() {
    // Either of two 3 kW loads fits under 4 kW alone, not both: priority decides which runs.
    for (pa, pb, kept) in [(1, 0, "a"), (0, 1, "b"), (0, 2, "b"), (3, 2, "a")] {
        let d = day(&format!(
            r#"{{"step_minutes": 60, "n_steps": 1, "pv_w": [0], "base_load_w": [0],
            "import_price": [0.1], "export_price": [0], "grid_import_limit_w": 4000,
            "loads": [{{"name": "a", "power_w": 3000, "steps": 1, "priority": {pa}}},
                      {{"name": "b", "power_w": 3000, "steps": 1, "priority": {pb}}}]}}"#
        ));
        for m in [Method::Auto, Method::Heuristic] {
            let out = plan(&d, Objective::Cost, m);
            assert_eq!(out.status, Status::Infeasible);
            assert_eq!(out.dropped.len(), 1, "{:?}", out.dropped);
            assert_ne!(out.dropped[0], kept, "priorities {pa}/{pb} {m:?}");
        }
    }
}

/// A tiny random day of one-block loads: windows, powers and prices from a seeded generator.
fn tiny_day(seed: u64) -> Day {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = |m: u64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 33) % m
    };
    let n = 8;
    let price: Vec<String> = (0..n).map(|_| format!("0.{}", 10 + next(30))).collect();
    let pv: Vec<String> = (0..n).map(|_| (next(4) * 500).to_string()).collect();
    let loads: Vec<String> = (0..3)
        .map(|k| {
            let steps = 1 + next(3);
            let start = next(n - steps);
            let end = (start + steps + next(4)).min(n);
            format!(
                r#"{{"name": "L{k}", "power_w": {}, "steps": {steps}, "start": {start}, "end": {end},
                    "semi_continuous": true, "single_block": {}}}"#,
                500 * (1 + next(5)),
                next(2) == 0
            )
        })
        .collect();
    day(&format!(
        r#"{{"step_minutes": 60, "n_steps": {n}, "pv_w": [{}], "base_load_w": [{}],
            "import_price": [{}], "export_price": [{}], "grid_import_limit_w": 4000,
            "loads": [{}]}}"#,
        pv.join(","),
        vec!["200"; n as usize].join(","),
        price.join(","),
        vec!["0.05"; n as usize].join(","),
        loads.join(",")
    ))
}

/// Every plan of the tiny day, enumerated: the least bill of those that pass the check.
fn brute_force(d: &Day) -> Option<f64> {
    use powerslot_home::{Kind, Plan};
    let n = d.n_steps;
    let options: Vec<Vec<Vec<f64>>> = d
        .loads
        .iter()
        .map(|l| {
            let w = l.window.clone();
            let (p, steps, block) = match l.kind() {
                Kind::Block { power_w, steps } => (power_w, steps, true),
                Kind::Steps { power_w, steps, .. } => (power_w, steps, false),
                Kind::Energy { .. } => unreachable!("tiny days have on/off loads only"),
            };
            (0u32..1 << n)
                .filter(|m| m.count_ones() as usize == steps)
                .map(|m| {
                    (0..n)
                        .map(|t| if m >> t & 1 == 1 { p } else { 0.0 })
                        .collect::<Vec<f64>>()
                })
                .filter(|v| {
                    v.iter()
                        .enumerate()
                        .all(|(t, x)| *x == 0.0 || w.contains(&t))
                })
                .filter(|v| {
                    !block
                        || v.windows(2).filter(|p| p[0] == 0.0 && p[1] > 0.0).count()
                            + usize::from(v[0] > 0.0)
                            == 1
                })
                .collect()
        })
        .collect();
    let mut best: Option<f64> = None;
    let mut idx = vec![0; options.len()];
    loop {
        let plan = Plan {
            loads: d
                .loads
                .iter()
                .zip(&idx)
                .zip(&options)
                .map(|((l, &i), o)| (l.name.clone(), o[i].clone()))
                .collect(),
            battery_w: vec![],
        };
        if violations(d, &plan, &[]).is_empty() {
            let b = figures(d, &plan).bill;
            best = Some(best.map_or(b, |x: f64| x.min(b)));
        }
        let mut k = 0;
        loop {
            if k == idx.len() {
                return best;
            }
            idx[k] += 1;
            if idx[k] < options[k].len() {
                break;
            }
            idx[k] = 0;
            k += 1;
        }
    }
}

#[test]
fn the_exact_search_matches_brute_force_and_the_heuristic_is_never_cheaper() {
    for seed in 0..30 {
        let d = tiny_day(seed);
        let want = brute_force(&d);
        let exact = plan_day(
            &d,
            &Options {
                method: Method::Exact,
                ..Options::default()
            },
        )
        .unwrap();
        match want {
            None => assert_eq!(exact.status, Status::Infeasible, "seed {seed}"),
            Some(b) => {
                assert_eq!(exact.status, Status::Optimal, "seed {seed}");
                assert!(
                    (exact.figures.bill - b).abs() < 1e-6,
                    "seed {seed}: {} vs {b}",
                    exact.figures.bill
                );
                let heur = plan(&d, Objective::Cost, Method::Heuristic);
                assert!(heur.figures.bill >= b - 1e-6, "seed {seed}");
                assert!(
                    heur.bound <= b + 1e-6,
                    "seed {seed}: bound {} above the optimum {b}",
                    heur.bound
                );
            }
        }
    }
}

#[test]
fn a_soft_deadline_is_kept_only_while_being_late_costs_more_than_waiting_saves() {
    // 1 kW for one hour; the second and third hours are 0.20 cheaper than the first. Due at
    // the end of the first hour; each hour late costs `late`.
    for (single_block, late, want_start) in [
        (true, 0.05, 1),
        (true, 0.5, 0),
        (false, 0.05, 1),
        (false, 0.5, 0),
    ] {
        let d = day(&format!(
            r#"{{"step_minutes": 60, "n_steps": 3, "pv_w": [0,0,0], "base_load_w": [0,0,0],
            "import_price": [0.3,0.1,0.1], "export_price": [0,0,0], "grid_import_limit_w": 5000,
            "loads": [{{"name": "a", "power_w": 1000, "steps": 1, "single_block": {single_block},
                        "due": 1, "tardiness_cost": {late}}}]}}"#
        ));
        for m in [Method::Exact, Method::Heuristic, Method::Auto] {
            let out = plan(&d, Objective::Cost, m);
            let start = out.plan.loads[0].1.iter().position(|p| *p > 0.0);
            assert_eq!(
                start,
                Some(want_start),
                "block {single_block} late {late} {m:?}"
            );
            let bill = if want_start == 0 { 0.3 } else { 0.1 };
            let cost = bill + late * want_start as f64;
            assert!(
                (out.objective - cost).abs() < 1e-9,
                "block {single_block} late {late} {m:?}: {}",
                out.objective
            );
        }
    }
}
