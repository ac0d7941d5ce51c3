//! `powerslot`: one binary, thin over the library crates.
//!
//! Every subcommand lives in `cmd/<name>.rs` with its clap `Args` and a `run`.
//! Errors print one clear line on stderr and exit with code 2.

mod cmd;
mod plot;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Decide when each device may draw how much power inside a budget that changes over time.
#[derive(Parser)]
#[command(name = "powerslot", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Plan one instance (PSPLIB .sm, Patterson .rcp or native JSON) and print the schedule.
    Plan(cmd::plan::Args),
    /// Run a planner over a benchmark set and compare with best-known results.
    #[command(subcommand)]
    Bench(cmd::bench::Bench),
    /// Rerun the smart-device power allocation study (seed 001): scenarios, Table 2, figures.
    Paper(cmd::paper::Args),
    /// Draw one schedule: power in use against the budget, and devices finished over time.
    Plot(cmd::figure::Args),
    /// Per-device demand forecasting: backtests and federated rounds.
    #[command(subcommand)]
    Forecast(cmd::forecast::Forecast),
    /// Energy-harvesting nodes: solar prediction and duty-cycle / task scheduling.
    #[command(subcommand)]
    Harvest(cmd::harvest::Harvest),
    /// Fleet simulator: every negotiation mechanism on the same real traces, side by side.
    Simulate(cmd::simulate::Args),
    /// Plan a home's day: deferrable loads, PV and a battery under prices and a grid limit.
    Day(cmd::day::Args),
    /// Run a site's coordinator: MQTT (embedded broker or --broker), SQLite ledger, HTTP API.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Run device agents against a coordinator (one device or many).
    Agent(Box<cmd::agent::AgentArgs>),
    /// Register and list a site's devices.
    #[command(subcommand)]
    Devices(cmd::serve::Devices),
    /// Measure a coordinator under many agents on loopback (messages/s, latency, CPU, memory).
    Load(cmd::load::LoadArgs),
    /// The whole system in compressed time: coordinator, broker, ledger, API and a
    /// neighbourhood of agents under a solar-and-battery budget, with a live summary.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => cmd::plan::run(args),
        Command::Bench(b) => cmd::bench::run(b),
        Command::Paper(args) => cmd::paper::run(args),
        Command::Plot(args) => cmd::figure::run(args),
        Command::Forecast(f) => cmd::forecast::run(f),
        Command::Harvest(h) => cmd::harvest::run(h),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Day(args) => cmd::day::run(args),
        Command::Serve(a) => cmd::serve::run(*a),
        Command::Agent(a) => cmd::agent::run(*a),
        Command::Devices(d) => cmd::serve::run_devices(d),
        Command::Load(a) => cmd::load::run(a),
        Command::Demo(a) => cmd::demo::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
