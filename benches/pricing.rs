//! Price catalog benchmarks: model id lookup (exact, normalised, unknown; warm and cold) and cost
//! computation. Results and goals: BENCHMARKS.md, "Pricing (issue 2)".
//!
//! ```text
//! cargo bench --bench pricing -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Which path each id takes (see src/pricing/matcher.rs):
//! - `gpt-4o-2024-08-06`: an exact alias, lower-case already: one hash lookup, no allocation.
//! - `GPT-4o-2024-08-06`: exact after lower-casing (one allocation).
//! - `bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0`: no exact alias; warm it is
//!   a match-cache hit, cold it walks the normalisation ladder (prefixes, `-v1:0`, date) and the
//!   pattern rules at each form until `us.anthropic.claude-sonnet-4-5-20250929-v1:0` matches.
//! - cold normalised ids are made fresh each iteration the way real ids vary: a Bedrock
//!   inference-profile ARN with a different account, and an OpenAI fine-tune id with a different
//!   job suffix (`ft:gpt-4o-mini-2024-07-18:org::<n>`), so the cache never answers.
//! - unknown: `gpt-9` (warm: cached miss), `unknown-model-<n>` (cold: every ladder form and every
//!   pattern rule is tried and fails).
//! - `providers/*` (issue 13, B5): one model (`gpt-4o`) priced with a provider the catalog does
//!   not know, after `N` such providers were seen with it: `warm/N` with one of those `N`
//!   (round robin), `cold/N` with a new one each iteration. The cost per span must not grow
//!   with `N` (the starting code scanned a list of the `N` providers per lookup).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use otel_llm_cost::{pricing::ServiceTier, pricing::Usage, Catalog};

const NORMALISED: &str = "bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0";

fn lookup(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("embedded catalog");
    // The ids must resolve as described above, or the figures mean nothing.
    assert_eq!(
        &*catalog.resolve(NORMALISED, None).unwrap().id,
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    );
    assert!(catalog.resolve("gpt-9", None).is_none());

    let mut g = c.benchmark_group("lookup");
    g.bench_function("exact", |b| {
        b.iter(|| {
            catalog
                .resolve(black_box("gpt-4o-2024-08-06"), None)
                .is_some()
        })
    });
    g.bench_function("exact_with_provider", |b| {
        b.iter(|| {
            catalog
                .resolve(
                    black_box("gpt-4o-2024-08-06"),
                    Some(black_box("az.ai.openai")),
                )
                .is_some()
        })
    });
    g.bench_function("exact_mixed_case", |b| {
        b.iter(|| {
            catalog
                .resolve(black_box("GPT-4o-2024-08-06"), None)
                .is_some()
        })
    });
    g.bench_function("normalised_warm", |b| {
        b.iter(|| catalog.resolve(black_box(NORMALISED), None).is_some())
    });
    g.bench_function("unknown_warm", |b| {
        b.iter(|| catalog.resolve(black_box("gpt-9"), None).is_none())
    });

    // Cold: a fresh id every iteration (made outside the timed part, dropped outside it too).
    let mut n: u64 = 0;
    let mut fresh = |f: &dyn Fn(u64) -> String| {
        n += 1;
        f(n)
    };
    // What the harness itself costs per cold iteration (fresh id made and dropped, no lookup):
    // subtract it from the cold figures below.
    g.bench_function("cold_harness_only", |b| {
        b.iter_batched(
            || fresh(&|n| format!("unknown-model-{n}")),
            |id| {
                let hit = black_box(id.len()) == 0;
                (id, hit)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("normalised_cold_arn", |b| {
        b.iter_batched(
            || {
                fresh(&|n| {
                    format!(
                        "arn:aws:bedrock:us-east-1:{n:012}:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
                    )
                })
            },
            |id| {
                let hit = catalog.resolve(&id, None).is_some();
                (id, hit)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("normalised_cold_ft", |b| {
        b.iter_batched(
            || fresh(&|n| format!("ft:gpt-4o-mini-2024-07-18:acme::{n:x}")),
            |id| {
                let hit = catalog.resolve(&id, None).is_some();
                (id, hit)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("unknown_cold", |b| {
        b.iter_batched(
            || fresh(&|n| format!("unknown-model-{n}")),
            |id| {
                let hit = catalog.resolve(&id, None).is_some();
                (id, hit)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn cost(c: &mut Criterion) {
    let catalog = Catalog::embedded().expect("embedded catalog");
    let at = 1_767_225_600; // 2026-01-01
    let simple = catalog.get("gpt-4o-2024-08-06").unwrap().price_at(at);
    let tiered = catalog.get("gemini/gemini-2.5-pro").unwrap().price_at(at);
    let o3 = catalog.get("o3").unwrap().price_at(at);
    let usage = Usage {
        input_total: 12_000,
        cache_read: 8_000,
        output_total: 900,
        reasoning: 300,
        ..Usage::default()
    };
    let long = Usage {
        input_total: 250_000,
        cache_read: 100_000,
        output_total: 2_000,
        ..Usage::default()
    };

    let mut g = c.benchmark_group("cost");
    g.bench_function("simple", |b| {
        b.iter(|| simple.cost(black_box(&usage), None).0.total())
    });
    g.bench_function("tiered_above_200k", |b| {
        b.iter(|| tiered.cost(black_box(&long), None).0.total())
    });
    g.bench_function("service_tier_flex", |b| {
        b.iter(|| {
            o3.cost(black_box(&usage), Some(ServiceTier::Flex))
                .0
                .total()
        })
    });
    // End to end: exact lookup + dated price + cost, as the span processor does it.
    g.bench_function("price_exact_id", |b| {
        b.iter(|| {
            catalog
                .price(
                    black_box("gpt-4o-2024-08-06"),
                    None,
                    black_box(&usage),
                    at,
                    None,
                )
                .map(|p| p.cost.total())
        })
    });
    g.finish();
}

fn providers(c: &mut Criterion) {
    let at = 1_767_225_600; // 2026-01-01
    let usage = Usage {
        input_total: 1_000,
        output_total: 100,
        ..Usage::default()
    };
    let mut g = c.benchmark_group("providers");
    for n in [1usize, 1_000, 10_000] {
        // A catalog per size: each starts with an empty cache.
        let catalog = Catalog::embedded().expect("embedded catalog");
        let seen: Vec<String> = (0..n).map(|i| format!("provider-{i:06}")).collect();
        for p in &seen {
            assert!(catalog.price("gpt-4o", Some(p), &usage, at, None).is_ok());
        }
        let mut i = 0;
        g.bench_function(format!("warm/{n}"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                catalog
                    .price(black_box("gpt-4o"), Some(&seen[i]), &usage, at, None)
                    .map(|p| p.cost.total())
            })
        });
        let mut k: u64 = 0;
        g.bench_function(format!("cold/{n}"), |b| {
            b.iter_batched(
                || {
                    k += 1;
                    format!("new-provider-{k}")
                },
                |p| {
                    let r = catalog
                        .price(black_box("gpt-4o"), Some(&p), &usage, at, None)
                        .map(|p| p.cost.total());
                    (p, r)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, lookup, cost, providers);
criterion_main!(benches);
