//! Rules benchmarks (a plain binary: `cargo bench --bench rules`).
//!
//! For synthetic lists of 100k and 1M domains and for the real lists of `../shared/corpus/`
//! (skipped with a note when absent): time to compile the text into a `RuleSet` and the resident
//! memory it adds, beside the same names put in a `HashSet<String>` in the same run (the obvious
//! alternative, and a floor for "parse the names and keep them"). Then lookups per second for a
//! listed name, an unlisted name and a deep subdomain, beside the same `HashSet` probes.
//! Groups: 1M rules in one group beside the same list used by three groups and beside three
//! lists of three groups that share a tenth of their names, built through the config as hush
//! builds them; live heap bytes (counted by this binary's allocator: resident size would also
//! count the list texts glibc keeps after they are freed) as a ratio to the one-group case of
//! the same run.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashSet;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hush::lists::source::{ListSpec, compile};
use hush::rules::{Polarity, QueryName, RuleSet};

/// The system allocator, counting the bytes live on the heap.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

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
            || {
                query
                    .suffixes()
                    .any(|suffix| std::str::from_utf8(suffix).is_ok_and(|s| names.contains(s)))
            },
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
        "groups",
    ] {
        let output = std::process::Command::new(&exe)
            .env("HUSH_BENCH_CASE", case)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run a case");
        print!("{}", String::from_utf8_lossy(&output.stdout));
    }
}

/// Heap bytes held by the rules compiled from `config_text` (lists in `dir`), as hush
/// builds them from a config.
fn grouped_growth(dir: &Path, config_text: &str) -> (u64, RuleSet) {
    let config = hush::config::Config::from_toml(config_text, "bench.toml", dir).expect("config");
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let compiled = compile(&ListSpec::from_config(&config));
    let rules = compiled.rules;
    drop(compiled.reports);
    let held = LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(before);
    (held as u64, rules)
}

/// One group against three, each layout in its own process (`HUSH_BENCH_GROUPS`).
fn groups(dir: &Path) {
    let exe = std::env::current_exe().expect("own path");
    let mut growth = Vec::new();
    println!("\ngroups: 1M rules (heap held by the rules; ratio to one group, same run)");
    for layout in [
        "one group",
        "one list, three groups",
        "three lists, three groups",
    ] {
        let output = std::process::Command::new(&exe)
            .env("HUSH_BENCH_CASE", "groups-layout")
            .env("HUSH_BENCH_GROUPS", layout)
            .env("HUSH_BENCH_DIR", dir)
            .output()
            .expect("run a layout");
        let text = String::from_utf8_lossy(&output.stdout);
        let bytes: u64 = text.trim().parse().unwrap_or(0);
        let ratio = bytes as f64 / growth.first().copied().unwrap_or(bytes).max(1) as f64;
        println!("  {layout:<28} +{:>6.1} MiB   {ratio:>5.2}", mib(bytes));
        growth.push(bytes);
    }
}

fn groups_layout(dir: &Path, layout: &str) {
    let groups = "[[groups]]\nname = \"kids\"\nlists = [{kids}]\n\
                  [[groups]]\nname = \"night\"\nlists = [{night}]\n";
    let config = match layout {
        "one group" => "[blocking]\nlists = [\"all.txt\"]\n".to_owned(),
        "one list, three groups" => format!(
            "[blocking]\nlists = [\"all.txt\"]\n{}",
            groups
                .replace("{kids}", "\"all.txt\"")
                .replace("{night}", "\"all.txt\"")
        ),
        _ => format!(
            "[blocking]\nlists = [\"a.txt\"]\n{}",
            groups
                .replace("{kids}", "\"b.txt\"")
                .replace("{night}", "\"c.txt\"")
        ),
    };
    let (bytes, rules) = grouped_growth(dir, &config);
    black_box(&rules);
    println!("{bytes}");
}

fn run_case(case: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    match case {
        "groups" => {
            let text = synthetic(1_000_000);
            std::fs::write(dir.path().join("all.txt"), &text).expect("write");
            // Three lists of ~370k names each, a tenth of each shared with the next: 1M names.
            let lines: Vec<&str> = text.lines().collect();
            let third = lines.len() / 3;
            let overlap = third / 10;
            for (i, file) in ["a.txt", "b.txt", "c.txt"].into_iter().enumerate() {
                let end = ((i + 1) * third + overlap).min(lines.len());
                std::fs::write(dir.path().join(file), lines[i * third..end].join("\n"))
                    .expect("write");
            }
            drop(lines);
            drop(text);
            groups(dir.path());
        }
        "groups-layout" => {
            let layout = std::env::var("HUSH_BENCH_GROUPS").unwrap_or_default();
            let dir = std::env::var("HUSH_BENCH_DIR").unwrap_or_default();
            groups_layout(Path::new(&dir), &layout);
        }
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
