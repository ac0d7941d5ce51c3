//! Plans one day and prints the JSON of `powerslot day --json`, without building the whole
//! command-line binary: `cargo run -p powerslot-home [--features highs] --example day_json --
//! DAY.json [TIME_LIMIT_S [microlp|highs]]`. The side-by-side script
//! (`scripts/day_vs_emhass.py --powerslot`) can run it.

use powerslot_home::{Options, Solver, plan_day, read_day};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let run = || -> Result<String, String> {
        let path = args
            .first()
            .ok_or("usage: day_json DAY.json [TIME_LIMIT_S [microlp|highs]]")?;
        let time_limit_s = match args.get(1) {
            Some(s) => s
                .parse()
                .map_err(|_| format!("time limit `{s}` is not a number"))?,
            None => 10.0,
        };
        let solver = match args.get(2).map(String::as_str) {
            None => Solver::default(),
            Some("microlp") => Solver::MicroLp,
            Some("highs") => Solver::Highs,
            Some(s) => return Err(format!("solver `{s}` is neither microlp nor highs")),
        };
        let day = read_day(std::path::Path::new(path)).map_err(|e| e.to_string())?;
        let out = plan_day(
            &day,
            &Options {
                time_limit_s,
                solver,
                ..Options::default()
            },
        )
        .map_err(|e| e.to_string())?;
        serde_json::to_string_pretty(&out.to_json()).map_err(|e| e.to_string())
    };
    match run() {
        Ok(s) => {
            println!("{s}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
