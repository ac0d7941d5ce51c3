//! Bad input to `forecast` and `harvest`, through the real binary: every case ends
//! with exit code 2 and one `error:` line naming the file, line, column or option.

mod common;

use common::{Files, case, case_args, check_all, run};

/// `rows` minutes of a sawtooth from 2020-01-01, as `timestamp,value`.
fn minutes(rows: usize) -> String {
    let mut s = String::from("timestamp,value\n");
    for i in 0..rows {
        s += &format!(
            "2020-01-{:02}T{:02}:{:02}:00,{}\n",
            1 + i / 1440,
            i / 60 % 24,
            i % 60,
            i % 17
        );
    }
    s
}

/// `days` of 15-minute irradiance, as `timestamp,poa_irradiance_w_m2`.
fn irradiance(days: usize) -> String {
    let mut s = String::from("timestamp,poa_irradiance_w_m2\n");
    for d in 0..days {
        for q in 0..96 {
            let h = q as f64 / 4.0;
            let v = if (6.0..18.0).contains(&h) {
                800.0 * ((h - 6.0) / 12.0 * std::f64::consts::PI).sin()
            } else {
                0.0
            };
            s += &format!(
                "2020-06-{:02}T{:02}:{:02}:00,{v:.1}\n",
                1 + d,
                q / 4,
                q % 4 * 15
            );
        }
    }
    s
}

fn series_files(f: &Files) {
    let good = minutes(3000);
    f.write("good.csv", &good);
    f.write("empty.csv", "");
    f.write("header.csv", "timestamp,value\n");
    f.write("text.csv", good.replacen(",5\n", ",five\n", 1));
    f.write("e400.csv", good.replacen(",5\n", ",1e400\n", 1));
    f.write("inf.csv", good.replacen(",5\n", ",inf\n", 1));
    f.write(
        "nan.csv",
        "timestamp,value\n2020-01-01T00:00,NaN\n2020-01-01T00:01,\n",
    );
    f.write("badtime.csv", "timestamp,value\nyesterday,1\n");
    f.write("ragged.csv", "timestamp,value\n2020-01-01T00:00,1,2\n");
    f.write("typo_year.csv", format!("{good}2070-01-01T00:00:00,3\n"));
    f.write(
        "long_cell.csv",
        format!(
            "timestamp,value\n2020-01-01T00:00,{}\n",
            "7x".repeat(1_000_000)
        ),
    );
    // The same length of series on a 15-minute grid.
    let mut q = String::from("timestamp,value\n");
    for i in 0..3000usize {
        let m = i * 15;
        q += &format!(
            "2020-{:02}-{:02}T{:02}:{:02}:00,{}\n",
            1 + m / 1440 / 28,
            1 + m / 1440 % 28,
            m / 60 % 24,
            m % 60,
            i % 5
        );
    }
    f.write("q900.csv", q);
}

#[test]
fn forecast_refuses_every_crafted_series_and_option() {
    let f = Files::new();
    series_files(&f);
    let b = "forecast backtest";
    let tail = "--value-column value --no-plot --models persistence";
    let c = |args: &str, words: &[&str]| case(&format!("{b} {args} {tail}"), words);
    let cases = vec![
        c("missing.csv", &["missing.csv", "No such file"]),
        c("empty.csv", &["empty.csv"]),
        c("header.csv", &["header.csv: the file has no data rows"]),
        c(
            "text.csv",
            &["text.csv: line 7, column `value`: `five` is not a finite number"],
        ),
        c(
            "e400.csv",
            &["e400.csv: line 7", "`1e400` is not a finite number"],
        ),
        c("inf.csv", &["`inf` is not a finite number"]),
        c(
            "nan.csv",
            &["nan.csv: column `value` has no numeric value at all"],
        ),
        c(
            "badtime.csv",
            &["badtime.csv: line 2, column `timestamp`: `yesterday` is not a timestamp"],
        ),
        c("ragged.csv", &["ragged.csv: line 2"]),
        c(
            "typo_year.csv",
            &[
                "typo_year.csv",
                "more than half of the series would be filled in",
                "2070-01-01T00:00:00",
                "mistyped date",
            ],
        ),
        c("long_cell.csv", &["long_cell.csv: line 2", "characters)"]),
        c("good.csv --time-column when", &["no column named `when`"]),
        c(
            "good.csv --horizon 0",
            &["--horizon must be between 1 and 100000, got 0"],
        ),
        c(
            "good.csv --horizon 1000000000000",
            &["--horizon must be between 1 and 100000"],
        ),
        c(
            "good.csv --origins 0",
            &["--origins must be between 1 and 1000000, got 0"],
        ),
        c(
            "good.csv --season 0",
            &["--season must be between 1 and 1500, got 0"],
        ),
        c(
            "good.csv --season 1000000000",
            &["--season must be between 1 and 1500, got 1000000000"],
        ),
        c(
            "good.csv --step 0",
            &["--step must be between 1 and 1000000000, got 0"],
        ),
        c(
            "good.csv --step=-60",
            &["--step must be between 1 and 1000000000, got -60"],
        ),
        c(
            "good.csv --step 1",
            &["more than half of the series would be filled in", "--step"],
        ),
        c("good.csv --spacing 0", &["--spacing must be between 1"]),
        c("good.csv --max-train 0", &["--max-train must be between 1"]),
        c(
            "good.csv --refit-every 0",
            &["--refit-every must be between 1"],
        ),
        c("good.csv --origins 1000000", &["backtest", "too few"]),
        case(
            &format!("{b} good.csv --value-column value --no-plot --models nonsense"),
            &["unknown model `nonsense`"],
        ),
        c("good.csv --join", &["--join"]),
        c("good.csv --join nowhere.csv", &["nowhere.csv"]),
        c(
            "good.csv --join good.csv:",
            &["the column after `:` is empty"],
        ),
        c(
            "good.csv --join good.csv --join-derived lag0",
            &["unknown `lag0`"],
        ),
        c(
            "good.csv --max-interpolate 99999999999",
            &["--max-interpolate must be between 0 and 10000000"],
        ),
    ];
    check_all(f.path(), &cases);
}

#[test]
fn federated_refuses_mixed_grids_and_out_of_range_options() {
    let f = Files::new();
    series_files(&f);
    let fed = "forecast federated --value-column value --no-plot";
    let c = |args: &str, words: &[&str]| case(&format!("{fed} {args}"), words);
    let cases = vec![
        c("good.csv", &["at least 2 devices, got 1"]),
        c(
            "good.csv q900.csv",
            &["`q900` has slots of 900 s and `good` of 60 s"],
        ),
        c(
            "good.csv good.csv --cold-history 1000000000",
            &["cold-history", "1000000000 slots", "has only 2400 slots"],
        ),
        c(
            "good.csv good.csv --dropout 1",
            &["--dropout must be at least 0 and below 1, got 1"],
        ),
        c("good.csv good.csv --dropout NaN", &["--dropout"]),
        c(
            "good.csv good.csv --dp-delta 0",
            &["--dp-delta must be above 0 and below 1"],
        ),
        c(
            "good.csv good.csv --dp-noise NaN",
            &["--dp-noise must be a number above 0 and at most 1000000, got NaN"],
        ),
        c(
            "good.csv good.csv --dp-clip 0",
            &["--dp-clip must be a number above 0"],
        ),
        c(
            "good.csv good.csv --rounds 0",
            &["--rounds must be between 1 and 10000, got 0"],
        ),
        c(
            "good.csv good.csv --local-epochs 0",
            &["--local-epochs must be between 1 and 1000"],
        ),
        c(
            "good.csv good.csv --horizon 0",
            &["--horizon must be between 1 and 10000"],
        ),
        c(
            "good.csv good.csv --cold-device 99",
            &["--cold-device 99: there are only 2 devices"],
        ),
        c(
            "good.csv good.csv --cold-device toaster",
            &["--cold-device `toaster` is not one of"],
        ),
        c(
            "good.csv e400.csv",
            &["e400.csv: line 7", "not a finite number"],
        ),
        case_args(
            "forecast federated good.csv good.csv --no-plot --value-column value,value"
                .split(' ')
                .map(String::from)
                .collect(),
            &["give either one file with several --value-column, or several files with one"],
        ),
    ];
    check_all(f.path(), &cases);
}

fn trace_files(f: &Files) {
    let good = irradiance(3);
    f.write("sun.csv", &good);
    f.write("sun_empty.csv", "");
    f.write("sun_header.csv", "timestamp,poa_irradiance_w_m2\n");
    f.write("sun_text.csv", good.replacen(",0.0\n", ",bright\n", 1));
    f.write("sun_inf.csv", good.replacen(",0.0\n", ",inf\n", 1));
    f.write("sun_e400.csv", good.replacen(",0.0\n", ",1e400\n", 1));
    f.write(
        "sun_gaps.csv",
        "timestamp,poa_irradiance_w_m2\n2020-01-01T00:00,\n2020-01-01T00:15,NaN\n",
    );
    f.write("sun_time.csv", "timestamp,poa_irradiance_w_m2\nnoon,5\n");
    f.write(
        "sun_back.csv",
        "timestamp,poa_irradiance_w_m2\n2020-01-01T01:00,1\n2020-01-01T00:00,1\n",
    );
    f.write("sun_9999.csv", format!("{good}9999-01-01T00:00:00,3\n"));
    f.write(
        "sun_long.csv",
        format!(
            "timestamp,poa_irradiance_w_m2\n2020-01-01T00:00,{}\n",
            "8q".repeat(1_000_000)
        ),
    );
    f.write("outdir", "a file, not a directory");
}

#[test]
fn harvest_refuses_every_crafted_trace_and_option() {
    let f = Files::new();
    trace_files(&f);
    let p = |args: &str, words: &[&str]| case(&format!("harvest predict --trace {args}"), words);
    let s = |args: &str, words: &[&str]| {
        case(
            &format!("harvest simulate --trace sun.csv --out figs {args}"),
            words,
        )
    };
    let cases = vec![
        p("missing.csv", &["cannot read missing.csv"]),
        p("sun_empty.csv", &["sun_empty.csv"]),
        p(
            "sun_header.csv",
            &[
                "sun_header.csv, line 2, column poa_irradiance_w_m2",
                "none of the 0 data rows",
            ],
        ),
        p(
            "sun_text.csv",
            &[
                "sun_text.csv, line 2, column poa_irradiance_w_m2",
                "\"bright\" is not a number",
            ],
        ),
        p("sun_inf.csv", &["line 2", "\"inf\" is not finite"]),
        p("sun_e400.csv", &["line 2", "\"1e400\" is not finite"]),
        p(
            "sun_gaps.csv",
            &[
                "sun_gaps.csv, line 2, column poa_irradiance_w_m2",
                "none of the 2 data rows has a value",
            ],
        ),
        p(
            "sun_time.csv",
            &[
                "sun_time.csv, line 2, column timestamp",
                "cannot read \"noon\"",
            ],
        ),
        p("sun_back.csv", &["line 3", "does not come after"]),
        p(
            "sun_9999.csv",
            &["sun_9999.csv, line 290, column timestamp", "mistyped date"],
        ),
        p("sun_long.csv", &["sun_long.csv, line 2", "characters)"]),
        p(
            "sun.csv --value-column lux",
            &["column lux", "no such column"],
        ),
        p(
            "sun.csv --slot-minutes 7",
            &["slot-minutes", "must divide 1440"],
        ),
        p("sun.csv --slot-minutes 0", &["slot-minutes"]),
        s(
            "--levels 16777216",
            &["--levels must be between 2 and 65536, got 16777216"],
        ),
        s(
            "--levels 1",
            &["--levels must be between 2 and 65536, got 1"],
        ),
        s("--tasks 0", &["--tasks must be between 1 and 255, got 0"]),
        s("--slots 0", &["--slots must be between 1 and 1440, got 0"]),
        s("--slots 7", &["7"]),
        s("--days 0", &["--days must be between 1"]),
        s(
            "--from-day 99",
            &["--from-day 99 is past the trace's 3 days"],
        ),
        s(
            "--battery 0",
            &["--battery must be a number above 0 and at most 1000000000, got 0"],
        ),
        s("--battery NaN", &["--battery", "NaN"]),
        s(
            "--battery-min 9",
            &["--battery-min must be a number between 0 and 7.4, got 9"],
        ),
        s(
            "--efficiency 2",
            &["--efficiency must be a number above 0 and at most 1, got 2"],
        ),
        s("--eta 0", &["--eta must be a number above 0"]),
        s("--leakage inf", &["--leakage", "inf"]),
        s("--p-max 0.001", &["--p-max must be a number between 0.02"]),
        s(
            "--dc-min 2",
            &["--dc-min must be a number between 0 and 1, got 2"],
        ),
        s("--u-max 0.5", &["--u-max must be a number between 1 and"]),
        s(
            "--alpha 1.5",
            &["--alpha must be a number between 0 and 1, got 1.5"],
        ),
        s(
            "--start 100",
            &["--start must be a number between 0.74 and 7.4, got 100"],
        ),
        s("--scheduler best", &["best", "--scheduler"]),
        case(
            "harvest simulate --trace sun.csv --out outdir/x --days 1 --slots 24",
            &["cannot create", "outdir/x"],
        ),
    ];
    check_all(f.path(), &cases);
}

#[test]
fn good_traces_with_bom_and_crlf_are_read() {
    let f = Files::new();
    let crlf = irradiance(3).replace('\n', "\r\n");
    f.write(
        "bom.csv",
        [b"\xef\xbb\xbf".as_slice(), crlf.as_bytes()].concat(),
    );
    let o = run(f.path(), &["harvest", "predict", "--trace", "bom.csv"]);
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let s = minutes(3000).replace('\n', "\r\n");
    f.write(
        "bom_series.csv",
        [b"\xef\xbb\xbf".as_slice(), s.as_bytes()].concat(),
    );
    let o = run(
        f.path(),
        &[
            "forecast",
            "backtest",
            "bom_series.csv",
            "--value-column",
            "value",
            "--models",
            "persistence",
            "--no-plot",
            "--origins",
            "10",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
}
