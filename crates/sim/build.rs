//! Turns on `cfg(shared_data)` when the benchmark data sets are beside the repository,
//! so the tests that read them run; see `build/shared_data.rs`.

include!("../../build/shared_data.rs");

fn main() {
    shared_data();
}
