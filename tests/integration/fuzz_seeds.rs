//! The fuzz targets' smoke run: every committed seed of `fuzz/corpus/` through the same entry
//! points the cargo-fuzz targets call (long runs: see `fuzz/README.md`).

use std::path::Path;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds for {target}");
    files
        .into_iter()
        .map(|file| std::fs::read(file).unwrap())
        .collect()
}

#[test]
fn list_text_seeds() {
    for seed in seeds("list_text") {
        hush::fuzzing::list_text(&seed);
        // Every prefix too: cut lines and half-written rules.
        for cut in (0..seed.len()).step_by(7) {
            hush::fuzzing::list_text(&seed[..cut]);
        }
    }
}

#[test]
fn config_text_seeds() {
    for seed in seeds("config_text") {
        for cut in (0..=seed.len()).step_by(5) {
            hush::fuzzing::config_text(&seed[..cut]);
        }
    }
}

#[test]
fn dns_request_seeds() {
    let fuzzer = hush::fuzzing::RequestFuzzer::new();
    for seed in seeds("dns_request") {
        for cut in 0..=seed.len() {
            fuzzer.run(&seed[..cut]);
        }
        // Flipped bits in the header and the question.
        for at in 0..seed.len() {
            let mut flipped = seed.clone();
            flipped[at] ^= 0xA5;
            fuzzer.run(&flipped);
        }
    }
}
