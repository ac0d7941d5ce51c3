//! Progress bars for long runs: shown on a terminal, silent in CI and pipes.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar over `len` steps labelled `what`; hidden when stderr is not a
/// terminal or `CI` is set, so logs stay clean.
pub(crate) fn bar(len: u64, what: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40.cyan/blue}] {pos}/{len} ({eta} left)")
            .expect("the template is valid")
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// A spinner with elapsed time for a step of unknown length labelled `what`; hidden as
/// [`bar`] is.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    if hidden() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("the template is valid"),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// Whether progress stays hidden: stderr is not a terminal, or `CI` is set.
fn hidden() -> bool {
    !std::io::stderr().is_terminal() || std::env::var_os("CI").is_some()
}
