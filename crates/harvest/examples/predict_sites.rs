//! Every predictor on every trace: the table in the README's harvest section.
//!
//! `cargo run --release -p powerslot-harvest --example predict_sites`
//!
//! The traces are those of `tests/any_site.rs`: the shipped real ones (PVDAQ system 50 in W with a
//! daylight-saving clock on 30-minute slots, three TMY sites hourly) and, when
//! `../shared/data` is there, PVDAQ system 15 with its synthetic unit and clock variants. MAPE
//! counts slots above a tenth of each trace's level (the 90th percentile of its daily maxima).

#[path = "../tests/sites/mod.rs"]
mod sites;

use powerslot_harvest::predict::{default_for, default_predictors, evaluate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut all = sites::system15_variants();
    if all.is_empty() {
        eprintln!("note: ../shared/data is absent; system 15 and its variants are left out");
    }
    all.extend(sites::shipped());
    let predictors = default_predictors();
    let mut columns = Vec::new();
    for site in &all {
        let s = &site.trace.series;
        let level = s.level();
        let scores = evaluate(s, &predictors, 0.1 * level)?;
        let f = default_for(s)?;
        println!(
            "{} ({}): {} days x {} slots, level {:.4}, {} samples clipped ({}), auto ends on {}, \
             MAPE over {} slots",
            site.name,
            site.unit,
            s.days(),
            s.slots_per_day(),
            level,
            site.trace.summary.clipped,
            site.trace.summary.clip_rule,
            f.chosen().name(),
            scores[0].mape_slots,
        );
        let shifts: Vec<String> = f
            .clock_shifts()
            .iter()
            .map(|c| format!("{} {:+}", site.trace.date(c.day), c.slots))
            .collect();
        println!(
            "  clock shifts: [{}]; day-ahead source at the end: {}",
            shifts.join(", "),
            f.chosen_day_ahead()
        );
        columns.push(scores);
    }
    println!();
    print!("| predictor | horizon |");
    for site in &all {
        print!(" {} ({}) |", site.name, site.unit);
    }
    println!();
    println!("|---|---|{}", "---:|".repeat(all.len()));
    for (i, p) in predictors.iter().enumerate() {
        let mark = if columns[0][i].default {
            " **(default)**"
        } else {
            ""
        };
        print!("| {}{mark} | {} |", p.name(), p.horizon().as_str());
        for c in &columns {
            print!(" {:.2} |", c[i].mape);
        }
        println!();
    }
    Ok(())
}
