// Included (`include!`) by the build script of every crate whose tests read the
// benchmark data sets, so the rule lives in one place.
//
// The data sets are not part of the repository: they live in `../shared/data` beside it
// (see the README, "Data"), or wherever the `POWERSLOT_DATA` environment variable points.
// When the folder is there, the crate is compiled with `cfg(shared_data)` and its data
// tests run; when it is not, those tests carry
// `#[cfg_attr(not(shared_data), ignore = "needs ../shared/data (see README: Data)")]`,
// so `cargo test` lists them as ignored, with the reason, instead of failing or passing
// without checking anything. Tests and benches find the folder through
// `env!("POWERSLOT_DATA_DIR")`.
//
// Cargo reruns this script when `POWERSLOT_DATA` changes and when the folder changes or
// disappears. A folder that appears after a build is not noticed by itself (cargo can
// only watch paths that exist): `touch build/shared_data.rs` then.

use std::path::{Path, PathBuf};

fn shared_data() {
    println!("cargo::rustc-check-cfg=cfg(shared_data)");
    println!("cargo::rerun-if-env-changed=POWERSLOT_DATA");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=../../build/shared_data.rs");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = match std::env::var_os("POWERSLOT_DATA") {
        Some(dir) => PathBuf::from(dir),
        // crates/<name>/ → the repository root → the folder beside it.
        None => Path::new(&manifest).join("../../../shared/data"),
    };
    let dir = match dir.canonicalize() {
        Ok(found) if found.is_dir() => {
            println!("cargo::rustc-cfg=shared_data");
            println!("cargo::rerun-if-changed={}", found.display());
            found
        }
        _ => dir,
    };
    println!("cargo::rustc-env=POWERSLOT_DATA_DIR={}", dir.display());
}
