//! The fuzz targets' smoke run: every committed seed of `fuzz/corpus/`, its prefixes, and a hundred
//! random edits of it (a fixed PRNG seed, so a failure repeats) through the same entry
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

/// Edits per seed: enough to reach odd corners in a second or two, not a substitute for fuzzing.
const MUTATIONS_PER_SEED: usize = 100;

/// `count` variants of `seed`, each with one to four random edits: a byte overwritten,
/// inserted or removed, or a run copied from elsewhere in the seed.
fn mutations(seed: &[u8], count: usize) -> Vec<Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.len() as u64;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound.max(1) as u64) as usize
    };
    (0..count)
        .map(|_| {
            let mut bytes = seed.to_vec();
            for _ in 0..=next(4) {
                let at = next(bytes.len() + 1);
                match next(4) {
                    0 if at < bytes.len() => bytes[at] = next(256) as u8,
                    1 => bytes.insert(at, next(256) as u8),
                    2 if at < bytes.len() => {
                        bytes.remove(at);
                    }
                    _ => {
                        let from = next(bytes.len());
                        let run: Vec<u8> =
                            bytes.iter().skip(from).take(next(16)).copied().collect();
                        bytes.splice(at..at, run);
                    }
                }
            }
            bytes
        })
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
        for mutant in mutations(&seed, MUTATIONS_PER_SEED) {
            hush::fuzzing::list_text(&mutant);
        }
    }
}

#[test]
fn config_text_seeds() {
    for seed in seeds("config_text") {
        for cut in (0..=seed.len()).step_by(5) {
            hush::fuzzing::config_text(&seed[..cut]);
        }
        for mutant in mutations(&seed, MUTATIONS_PER_SEED) {
            hush::fuzzing::config_text(&mutant);
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
        for mutant in mutations(&seed, MUTATIONS_PER_SEED) {
            fuzzer.run(&mutant);
        }
    }
}

#[test]
fn doh_request_seeds() {
    let fuzzer = hush::fuzzing::RequestFuzzer::new();
    for seed in seeds("doh_request") {
        for cut in 0..=seed.len() {
            fuzzer.run_https(&seed[..cut]);
        }
        for mutant in mutations(&seed, MUTATIONS_PER_SEED) {
            fuzzer.run_https(&mutant);
        }
    }
}
