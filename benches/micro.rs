//! Criterion micro-benchmarks of the hot path's pieces (`cargo bench --bench micro`), each
//! beside a plain-`std` reference measured in the same run, since only same-run ratios mean
//! anything on a shared machine:
//! - rule lookup in 100k rules (a listed name, an unlisted one, a deep subdomain of a listed
//!   one) beside the same suffix walk over a `HashSet<String>`;
//! - list compilation of 100k lines in three formats beside collecting the same names into a
//!   `HashSet<String>`;
//! - the answer cache (hit, miss, insert) beside a `Mutex<HashMap>` of cloned answers.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hush::dns::cache::{AnswerCache, CacheQuestion};
use hush::dns::reply::Reply;
use hush::rules::compile::block_list_from_text;
use hush::rules::{QueryName, RuleSet, Verdict};

const RULES: usize = 100_000;

fn names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("t{i}.tracker{}.example{}.com", i % 997, i % 13))
        .collect()
}

fn compile(text: &str) -> RuleSet {
    block_list_from_text("bench", text).0
}

fn rule_lookup(c: &mut Criterion) {
    let listed = names(RULES);
    let rules = compile(&listed.join("\n"));
    let set: HashSet<String> = listed.iter().cloned().collect();
    let mut group = c.benchmark_group("rule lookup (100k rules)");
    for (case, name) in [
        ("listed", "t4242.tracker254.example5.com"),
        ("unlisted", "www.unlisted-site.org"),
        ("deep", "a.b.c.d.e.t4242.tracker254.example5.com"),
    ] {
        let query = QueryName::from_text(name).expect("a valid name");
        group.bench_function(format!("hush {case}"), |b| {
            b.iter(|| !matches!(rules.decide(black_box(&query)), Verdict::Unlisted))
        });
        group.bench_function(format!("HashSet {case}"), |b| {
            b.iter(|| {
                black_box(&query)
                    .suffixes()
                    .any(|s| std::str::from_utf8(s).is_ok_and(|s| set.contains(s)))
            })
        });
    }
    group.finish();
}

fn list_compilation(c: &mut Criterion) {
    let listed = names(RULES);
    let formats = [
        ("domains", listed.join("\n")),
        (
            "hosts",
            listed
                .iter()
                .map(|name| format!("0.0.0.0 {name}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        (
            "adblock",
            listed
                .iter()
                .map(|name| format!("||{name}^"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ];
    let mut group = c.benchmark_group("compile 100k lines");
    group.sample_size(10);
    for (format, text) in &formats {
        group.bench_function(format!("hush {format}"), |b| {
            b.iter(|| compile(black_box(text)).len())
        });
    }
    group.bench_function("HashSet<String> of the names", |b| {
        b.iter(|| {
            black_box(&formats[0].1)
                .lines()
                .map(str::to_owned)
                .collect::<HashSet<_>>()
                .len()
        })
    });
    group.finish();
}

fn answer(name: &Name) -> Reply {
    let record = Record::from_rdata(name.clone(), 300, RData::A(A(Ipv4Addr::new(192, 0, 2, 1))));
    Reply::with_records(ResponseCode::NoError, vec![record], Vec::new())
}

fn answer_cache(c: &mut Criterion) {
    const ENTRIES: usize = 10_000;
    let owners: Vec<Name> = names(ENTRIES)
        .iter()
        .map(|name| Name::from_str(name).expect("a valid name"))
        .collect();
    let lower: Vec<LowerName> = owners.iter().map(LowerName::from).collect();
    let cache = AnswerCache::new(ENTRIES * 2, Duration::ZERO);
    let reference = Mutex::new(HashMap::new());
    for (owner, name) in owners.iter().zip(&lower) {
        let text = QueryName::from_lower(name);
        let question = CacheQuestion::new(name, text.as_ref(), RecordType::A);
        cache.insert(&question, name, &answer(owner), 300);
        reference
            .lock()
            .map(|mut map| map.insert((name.clone(), RecordType::A), answer(owner)))
            .ok();
    }
    let missing = LowerName::from(Name::from_str("not.cached.example").expect("a valid name"));
    // The pipeline has each query's text already (the rules look it up first).
    let text_of = |name: &LowerName| QueryName::from_lower(name).expect("a name with text");
    let (hit_text, missing_text) = (text_of(&lower[4242]), text_of(&missing));
    let mut group = c.benchmark_group("answer cache (10k entries)");
    group.bench_function("hush hit", |b| {
        b.iter(|| {
            let name = black_box(&lower[4242]);
            cache
                .get(&CacheQuestion::new(name, Some(&hit_text), RecordType::A))
                .is_some()
        })
    });
    group.bench_function("Mutex<HashMap> hit", |b| {
        b.iter(|| {
            reference.lock().ok().and_then(|map| {
                map.get(&(black_box(&lower[4242]).clone(), RecordType::A))
                    .cloned()
            })
        })
    });
    group.bench_function("hush miss", |b| {
        b.iter(|| {
            let name = black_box(&missing);
            cache
                .get(&CacheQuestion::new(
                    name,
                    Some(&missing_text),
                    RecordType::A,
                ))
                .is_some()
        })
    });
    let fresh = answer(&owners[7]);
    group.bench_function("hush insert", |b| {
        b.iter_batched(
            || lower[7].clone(),
            |name| {
                let text = QueryName::from_lower(&name);
                let question = CacheQuestion::new(&name, text.as_ref(), RecordType::A);
                cache.insert(&question, &name, &fresh, 300)
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, rule_lookup, list_compilation, answer_cache);
criterion_main!(benches);
