//! Rules benchmarks (a plain binary: `cargo bench --bench rules`).
//!
//! For synthetic lists of 100k and 1M domains and for the real lists of `../shared/corpus/`
//! (skipped with a note when absent): time to compile the text into a `RuleSet` and the resident
//! memory it adds, beside the same names put in a `HashSet<String>` in the same run (the obvious
//! alternative, and a floor for "parse the names and keep them"). Then lookups per second for a
//! listed name, an unlisted name and a deep subdomain, beside the same `HashSet` probes.

use std::collections::HashSet;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use hush::lists::source::{ListSpec, compile};
use hush::rules::{Polarity, QueryName, RuleSet};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn synthetic(count: usize) -> String {
    let mut text = String::with_capacity(count * 32);
    for i in 0..count {
        text.push_str(&format!(
            "0.0.0.0 t{i}.tracker{}.example{}.com\n",
            i % 997,
            i % 13
        ));
    }
    text
}

/// Compiles `path` once, reporting time and resident growth; returns the rules.
fn measure_compile(label: &str, path: &Path, names: &[String]) {
    let before = resident_bytes();
    let started = Instant::now();
    let compiled = compile(&[ListSpec::at(
        hush::config::ListLocation::Path(path.to_path_buf()),
        Polarity::Block,
    )]);
    let took = started.elapsed();
    let grown = resident_bytes().saturating_sub(before);

    let before_set = resident_bytes();
    let started = Instant::now();
    let set: HashSet<String> = names.iter().cloned().collect();
    let set_took = started.elapsed();
    let set_grown = resident_bytes().saturating_sub(before_set);
    black_box(&set);
    println!(
        "{label:<34} {:>9} rules  compile {:>8.1} ms  +{:>6.1} MiB   | HashSet<String> {:>7.1} ms  +{:>6.1} MiB",
        compiled.rules.len(),
        took.as_secs_f64() * 1e3,
        mib(grown),
        set_took.as_secs_f64() * 1e3,
        mib(set_grown),
    );
}

fn per_second(run: impl Fn() -> bool, iterations: u32) -> f64 {
    let started = Instant::now();
    let mut hits = 0u32;
    for _ in 0..iterations {
        hits += u32::from(black_box(run()));
    }
    black_box(hits);
    iterations as f64 / started.elapsed().max(Duration::from_nanos(1)).as_secs_f64()
}

fn lookups(rules: &RuleSet, names: &HashSet<String>) {
    let cases = [
        ("listed name", "t4242.tracker254.example5.com"),
        ("unlisted name", "www.unlisted-site.org"),
        (
            "deep subdomain of a listed name",
            "a.b.c.d.e.t4242.tracker254.example5.com",
        ),
    ];
    println!(
        "\nlookups (1M rules)                      hush decide()   HashSet suffix walk   ratio"
    );
    for (label, name) in cases {
        let query = QueryName::from_text(name).expect("name");
        let hush_rate = per_second(
            || !matches!(rules.decide(&query), hush::rules::Verdict::Unlisted),
            2_000_000,
        );
        // The reference does the same suffix walk against a HashSet of owned strings.
        let set_rate = per_second(
            || query.suffixes().any(|suffix| names.contains(suffix)),
            2_000_000,
        );
        println!(
            "  {label:<34} {:>10.1} M/s {:>14.1} M/s      {:>5.2}",
            hush_rate / 1e6,
            set_rate / 1e6,
            hush_rate / set_rate
        );
    }
}

/// Each measurement runs in a fresh child process (this binary again, with `HUSH_BENCH_CASE`
/// set) so that memory freed by an earlier case cannot hide the growth of a later one.
fn main() {
    if let Ok(case) = std::env::var("HUSH_BENCH_CASE") {
        run_case(&case);
        return;
    }
    println!(
        "compile time and resident memory growth (each case in a fresh process; shared, noisy machine)\n"
    );
    let exe = std::env::current_exe().expect("own path");
    for case in [
        "100000",
        "1000000",
        "stevenblack-hosts.txt",
        "hagezi-light.domains.txt",
        "adguard-dns-filter.txt",
        "lookups",
    ] {
        let output = std::process::Command::new(&exe)
            .env("HUSH_BENCH_CASE", case)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run a case");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

fn run_case(case: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    match case {
        "lookups" => {
            let text = synthetic(1_000_000);
            let path = dir.path().join("synthetic.txt");
            std::fs::write(&path, &text).expect("write");
            let compiled = compile(&[ListSpec::at(
                hush::config::ListLocation::Path(path),
                Polarity::Block,
            )]);
            let names: HashSet<String> = text
                .lines()
                .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
                .collect();
            lookups(&compiled.rules, &names);
        }
        count if count.bytes().all(|b| b.is_ascii_digit()) => {
            let count: usize = count.parse().expect("count");
            let text = synthetic(count);
            let path = dir.path().join("synthetic.txt");
            std::fs::write(&path, &text).expect("write");
            let names: Vec<String> = text
                .lines()
                .filter_map(|line| line.split_whitespace().nth(1).map(str::to_owned))
                .collect();
            drop(text);
            measure_compile(&format!("synthetic hosts, {count}"), &path, &names);
        }
        file => {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/corpus")
                .join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                println!("{file}: absent, skipped");
                return;
            };
            let names: Vec<String> = text
                .lines()
                .filter(|line| !line.starts_with(['#', '!']))
                .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
                .collect();
            drop(text);
            measure_compile(file, &path, &names);
        }
    }
}
