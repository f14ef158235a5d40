//! Model id matching: exact (case-insensitive) aliases, the normalisation ladder, patterns,
//! provider tie-break, and a bounded cache so a hot id costs one hash lookup.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use super::model::{MatchRule, Model};
use super::CatalogError;
use crate::provider::canonical_static;

/// Maps keyed by model ids and aliases, looked up once or twice per priced span: foldhash, seeded
/// per map (some keys, in the resolve cache, come from remote spans), instead of SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Cached ladder results kept at most; the cache is cleared when full (ids in real traffic are
/// few, so this only bounds memory against an adversarial stream of distinct ids).
pub(crate) const MATCH_CACHE_CAPACITY: usize = 16_384;

/// Most bytes the resolve cache may hold (its keys, values and table, as estimated by
/// [`ResolveCache::entry_bytes`] and [`ResolveCache::table_bytes`]); the cache is cleared
/// when an insert would pass it. Real traffic (tens to hundreds of distinct model and provider
/// pairs of < 100 bytes) stays far below; with model ids capped at
/// [`MAX_MODEL_ID_BYTES`](super::MAX_MODEL_ID_BYTES) and providers at
/// [`MAX_PROVIDER_BYTES`](crate::provider::MAX_PROVIDER_BYTES), a hostile stream of distinct
/// pairs still fills it with thousands of entries before it is cleared.
pub(crate) const MATCH_CACHE_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Provider prefixes a model id may carry (`openai/gpt-4o`, `bedrock/converse/...`), and the
/// provider they imply.
const PREFIXES: &[(&str, Option<&str>)] = &[
    ("openai", Some("openai")),
    ("azure", Some("azure.ai.openai")),
    ("azure_ai", Some("azure.ai.inference")),
    ("bedrock", Some("aws.bedrock")),
    ("converse", Some("aws.bedrock")),
    ("invoke", Some("aws.bedrock")),
    ("vertex_ai", Some("gcp.vertex_ai")),
    ("vertexai", Some("gcp.vertex_ai")),
    ("gemini", Some("gcp.gemini")),
    ("google", Some("gcp.gemini")),
    // The Gemini API names models `models/gemini-2.5-pro` (Vertex uses resource paths).
    ("models", Some("gcp.gemini")),
    ("anthropic", Some("anthropic")),
    ("openrouter", Some("openrouter")),
    ("mistral", Some("mistral_ai")),
    ("mistralai", Some("mistral_ai")),
    ("groq", Some("groq")),
    ("xai", Some("x_ai")),
    ("deepseek", Some("deepseek")),
    ("together_ai", Some("together_ai")),
    ("fireworks_ai", Some("fireworks_ai")),
    ("cohere", Some("cohere")),
    ("perplexity", Some("perplexity")),
];

type ModelIdx = u32;

/// The resolve cache: one flat map keyed by the hash of the (lower-case model id, canonical
/// provider if any) pair, so a lookup costs one hash whatever the number of providers seen with
/// a model (a list of providers per model made 100k spans of one model with distinct providers
/// take 31 CPU-s: issue 13, B5). An entry keeps its pair, compared on every hit; a pair whose
/// hash equals a cached one's replaces it (a cache may forget; with a seeded 64-bit hash it
/// does not happen in practice). Bounded in entries and in bytes; cleared when either is
/// reached.
///
/// Keyed by the hash rather than by the owned pair so that a lookup needs neither an
/// allocation nor a `dyn` borrowed key (the latter cost +88 instructions, +15-35 ns, per
/// warm hit in `benches/pricing.rs`).
#[derive(Default)]
struct ResolveCache {
    /// Hashes the pairs; seeded per cache (they come from remote spans).
    pairs: foldhash::fast::RandomState,
    map: FastMap<u64, CacheEntry>,
    /// Bytes of the entries' strings held (see [`ResolveCache::entry_bytes`]).
    key_bytes: usize,
}

struct CacheEntry {
    model: Box<str>,
    provider: Option<Box<str>>,
    result: Option<ModelIdx>,
}

impl ResolveCache {
    /// Per-entry cost beyond the pair's characters: two heap blocks (with allocator headers,
    /// rounded up generously).
    const ENTRY_OVERHEAD: usize = 2 * 32;
    /// Per table bucket: key, value and hashbrown's control byte.
    const SLOT_BYTES: usize = std::mem::size_of::<(u64, CacheEntry)>() + 1;

    fn entry_bytes(model: &str, provider: Option<&str>) -> usize {
        model.len() + provider.map_or(0, str::len) + Self::ENTRY_OVERHEAD
    }

    /// The table's bytes at `capacity` entries (hashbrown keeps 1/8 of its buckets free).
    fn table_bytes(capacity: usize) -> usize {
        capacity * 8 / 7 * Self::SLOT_BYTES
    }

    /// Bytes held: the pairs and the table.
    fn bytes(&self) -> usize {
        self.key_bytes + Self::table_bytes(self.map.capacity())
    }

    fn hash(&self, model: &str, provider: Option<&str>) -> u64 {
        self.pairs.hash_one((model, provider))
    }

    fn get(&self, model: &str, provider: Option<&str>) -> Option<Option<ModelIdx>> {
        let e = self.map.get(&self.hash(model, provider))?;
        (*e.model == *model && e.provider.as_deref() == provider).then_some(e.result)
    }

    /// Inserts, first clearing the cache if the entry would take it past either bound (the
    /// table counted as it would be after growing, which doubles it).
    fn insert(
        &mut self,
        model: &str,
        provider: Option<&str>,
        result: Option<ModelIdx>,
        max_bytes: usize,
    ) {
        let add = Self::entry_bytes(model, provider);
        let (len, cap) = (self.map.len(), self.map.capacity());
        let table_after = Self::table_bytes(if len < cap { cap } else { (cap + 2) * 2 });
        if len >= MATCH_CACHE_CAPACITY || self.key_bytes + add + table_after > max_bytes {
            self.map.clear();
            self.key_bytes = 0;
            if add + Self::table_bytes(cap) > max_bytes / 2 {
                // The table alone takes much of the budget: give it back, grow again.
                self.map.shrink_to_fit();
            }
            if add + Self::table_bytes(4) > max_bytes {
                return; // an entry alone is over the budget: not cached
            }
        }
        let entry = CacheEntry {
            model: model.into(),
            provider: provider.map(Into::into),
            result,
        };
        if let Some(old) = self.map.insert(self.hash(model, provider), entry) {
            self.key_bytes -= Self::entry_bytes(&old.model, old.provider.as_deref());
        }
        self.key_bytes += add;
    }
}

pub(crate) struct Index {
    /// Lower-case alias -> candidate models, default first.
    exact: FastMap<Box<str>, Vec<ModelIdx>>,
    /// Lower-case catalog id -> model.
    ids: HashMap<Box<str>, ModelIdx>,
    /// User aliases (opaque deployment names, profile ARNs) -> model.
    user_aliases: FastMap<Box<str>, ModelIdx>,
    /// Pattern rules in catalog order (user models first).
    patterns: Vec<(ModelIdx, MatchRule)>,
    /// All of `patterns` as one regex set (same order), so a form is tested against every
    /// pattern in one pass instead of one by one; `None` if it could not be built.
    pattern_set: Option<regex::RegexSet>,
    /// Indices into `patterns` by model provider, in pattern order, with their regex set.
    patterns_of: HashMap<Box<str>, (Vec<usize>, Option<regex::RegexSet>)>,
    cache: RwLock<ResolveCache>,
    /// `cache`'s bytes, readable without its lock (the gateway's memory gauge).
    cache_bytes: AtomicUsize,
    /// Budget of `cache` in bytes.
    cache_max_bytes: usize,
}

/// Default-candidate preference when no provider is known: the model makers' own APIs, then
/// the big clouds, then inference hosts, then aggregators and gateways that resell them.
fn provider_rank(p: &str) -> u8 {
    match p {
        "openai" | "anthropic" | "gcp.gemini" | "mistral_ai" | "deepseek" | "x_ai" | "cohere"
        | "perplexity" | "moonshot" | "zai" | "minimax" | "dashscope" | "ai21" | "voyage"
        | "meta" | "amazon_nova" | "zhipuai" | "codestral" => 0,
        "gcp.vertex_ai" | "aws.bedrock" | "azure.ai.openai" | "azure.ai.inference" => 1,
        "openrouter"
        | "vercel_ai_gateway"
        | "gmi"
        | "replicate"
        | "kyma"
        | "aihubmix"
        | "github_copilot"
        | "quicksilverpro"
        | "inferenceapis"
        | "opencode_go"
        | "llamagate"
        | "clf_ai_gateway"
        | "hostinger_router"
        | "cursor"
        | "v0"
        | "microsoft_365_copilot" => AGGREGATOR,
        _ => 2,
    }
}

/// Rank of resellers and gateways.
const AGGREGATOR: u8 = 3;

/// The provider a leading routing prefix names (`openai/gpt-4o` -> `openai`).
fn prefix_hint(key: &str) -> Option<&'static str> {
    let (first, _) = key.split_once('/')?;
    PREFIXES
        .iter()
        .find(|(p, _)| *p == first)
        .and_then(|(_, h)| *h)
}

/// Whether `s` has an ASCII upper-case letter (`s.bytes().any(|b| b.is_ascii_uppercase())`),
/// 8 bytes at a time.
fn has_ascii_uppercase(s: &[u8]) -> bool {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let w = u64::from_le_bytes(b);
        let x = w & LOW7;
        // Per byte, no carries: high bit of x + 0x3f is x >= 'A', of x + 0x25 is x > 'Z'; only
        // bytes that were ASCII (high bit clear in w) count.
        let upper = (x + 0x3f3f_3f3f_3f3f_3f3f) & !(x + 0x2525_2525_2525_2525) & !w & HIGH;
        if upper != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(u8::is_ascii_uppercase)
}

/// `s.trim()`: an id that begins and ends with an ASCII letter or digit (almost every one) has
/// nothing to trim, and skips the Unicode walk from both ends.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(f), Some(l)) if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() => s,
        _ => s.trim(),
    }
}

/// The candidate served by `provider`, if any.
fn of_provider(models: &[Model], cands: &[ModelIdx], provider: &str) -> Option<ModelIdx> {
    cands
        .iter()
        .copied()
        .find(|&i| *models[i as usize].provider == *provider)
}

impl Index {
    pub(crate) fn build(
        models: &[Model],
        user_first: &[ModelIdx],
        aliases: &HashMap<String, (String, String)>,
    ) -> Result<Index, CatalogError> {
        let mut exact: FastMap<Box<str>, Vec<ModelIdx>> = FastMap::default();
        let mut ids = HashMap::with_capacity(models.len());
        let mut patterns = Vec::new();
        let is_user = |i: ModelIdx| user_first.contains(&i);
        // User models first so their patterns win.
        let order: Vec<ModelIdx> = user_first
            .iter()
            .copied()
            .chain((0..models.len() as ModelIdx).filter(|i| !is_user(*i)))
            .collect();
        for &i in &order {
            let m = &models[i as usize];
            ids.insert(m.id.to_ascii_lowercase().into_boxed_str(), i);
            let id_lower = m.id.to_ascii_lowercase();
            let own = std::iter::once(id_lower.as_str());
            let mut seen = Vec::new();
            for alias in own.chain(m.aliases()) {
                if seen.contains(&alias) {
                    continue;
                }
                seen.push(alias);
                let v = exact.entry(alias.into()).or_default();
                if !v.contains(&i) {
                    v.push(i);
                }
            }
            for r in &m.rules {
                if !matches!(r, MatchRule::Equals(_)) {
                    patterns.push((i, r.clone()));
                }
            }
        }
        for (alias, cands) in exact.iter_mut() {
            cands.sort_by_key(|&i| {
                let m = &models[i as usize];
                (
                    !is_user(i),
                    !m.id.eq_ignore_ascii_case(alias),
                    provider_rank(&m.provider),
                )
            });
        }
        let mut user_aliases = FastMap::default();
        let mut errors = Vec::new();
        for (name, (target, file)) in aliases {
            match ids.get(target.to_ascii_lowercase().as_str()) {
                Some(&i) => {
                    user_aliases.insert(name.clone().into_boxed_str(), i);
                }
                None => errors.push(CatalogError::Invalid {
                    file: file.clone(),
                    entry: name.clone(),
                    field: "aliases".into(),
                    message: format!("target model '{target}' is not in the catalog"),
                }),
            }
        }
        CatalogError::from_list(errors)?;
        let pattern_set = build_pattern_set(&patterns);
        let mut by_provider: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        for (k, (i, _)) in patterns.iter().enumerate() {
            let p = &*models[*i as usize].provider;
            by_provider.entry(p.into()).or_default().push(k);
        }
        let patterns_of = by_provider
            .into_iter()
            .map(|(p, ks)| {
                let set =
                    regex::RegexSetBuilder::new(ks.iter().map(|&k| rule_regex(&patterns[k].1)))
                        .build()
                        .ok();
                (p, (ks, set))
            })
            .collect();
        Ok(Index {
            exact,
            ids,
            user_aliases,
            patterns,
            pattern_set,
            patterns_of,
            cache: RwLock::new(ResolveCache::default()),
            cache_bytes: AtomicUsize::new(0),
            cache_max_bytes: MATCH_CACHE_MAX_BYTES,
        })
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<ModelIdx> {
        self.ids.get(id.to_ascii_lowercase().as_str()).copied()
    }

    // Inline: the common answer (an exact alias) is a few lookups; the rest is out of line.
    #[inline]
    pub(crate) fn resolve(
        &self,
        models: &[Model],
        model: &str,
        provider: Option<&str>,
    ) -> Option<ModelIdx> {
        // Canonical provider without allocating for the common spellings.
        let provider_owned;
        let provider: Option<&str> = match provider {
            None => None,
            Some("") => None,
            Some(p) => match canonical_static(p) {
                Some(c) => Some(c),
                None => {
                    provider_owned = crate::provider::canonical(p);
                    Some(provider_owned.as_str())
                }
            },
        };
        // Trim any surrounding whitespace (`"gpt-4o\n"`); lower-case only when needed.
        let model = trim(model);
        let lowered;
        let key: &str = if has_ascii_uppercase(model.as_bytes()) {
            lowered = model.to_ascii_lowercase();
            &lowered
        } else {
            model
        };
        if let Some(&i) = self.user_aliases.get(key) {
            return Some(i);
        }
        if let Some(c) = self.exact.get(key) {
            match provider.or_else(|| prefix_hint(key)) {
                // A reseller's alias is only a last resort: look for the maker's own entry first.
                // But a reseller's full catalog id (`kyma/claude-sonnet-4-6`) names it outright:
                // no pattern of another provider may take it.
                None if provider_rank(&models[c[0] as usize].provider) < AGGREGATOR
                    || models[c[0] as usize].id.eq_ignore_ascii_case(key) =>
                {
                    return Some(c[0])
                }
                None => {}
                Some(p) => {
                    if let Some(i) = of_provider(models, c, p) {
                        return Some(i);
                    }
                    // The named provider may have its own entry deeper in the ladder
                    // (`openai/gpt-4o` is also an aggregator's alias): take the slow path.
                }
            }
        }
        self.resolve_cached(models, key, provider)
    }

    /// [`Index::resolve`] past the user aliases and exact aliases: the cache, else the ladder
    /// ([`Index::resolve_slow`]), whose answer the cache keeps.
    #[inline(never)]
    fn resolve_cached(
        &self,
        models: &[Model],
        key: &str,
        provider: Option<&str>,
    ) -> Option<ModelIdx> {
        // A poisoned cache (a panic elsewhere while it was written) is read as it is: each
        // entry is inserted whole, so a hit is still right.
        let hit = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key, provider);
        if let Some(r) = hit {
            return r;
        }
        let r = self.resolve_slow(models, key, provider);
        let mut cache = self.cache.write().unwrap_or_else(|p| {
            // Its byte count may be off, though: start it again empty (it refills).
            let mut c = p.into_inner();
            c.map.clear();
            c.key_bytes = 0;
            self.cache.clear_poison();
            c
        });
        cache.insert(key, provider, r, self.cache_max_bytes);
        self.cache_bytes.store(cache.bytes(), Ordering::Relaxed);
        r
    }

    /// Bytes the resolve cache holds now (bounded by [`MATCH_CACHE_MAX_BYTES`]).
    pub(crate) fn cache_bytes(&self) -> usize {
        self.cache_bytes.load(Ordering::Relaxed)
    }

    /// Walks the raw id and its ladder forms; at each form exact aliases, then patterns. With a
    /// provider (given, or implied by a prefix) the first model *of that provider* wins, else the
    /// first match found; without one, the first form that matches anything decides.
    fn resolve_slow(
        &self,
        models: &[Model],
        key: &str,
        provider: Option<&str>,
    ) -> Option<ModelIdx> {
        let forms = ladder(key);
        let want = provider.or_else(|| forms.iter().find_map(|(_, h)| *h));
        let all_forms = || std::iter::once(key).chain(forms.iter().map(|(f, _)| f.as_str()));
        if let Some(p) = want {
            // Fast pass, same answer as the walk below: with a provider wanted, only a user alias
            // or an entry *of that provider* ends the walk early, so only that provider's
            // patterns need testing. If nothing ends it, the full walk finds the fallback.
            let (mine, set) = match self.patterns_of.get(p) {
                Some((ks, set)) => (ks.as_slice(), set.as_ref()),
                None => (&[][..], None),
            };
            for form in all_forms() {
                if let Some(&i) = self.user_aliases.get(form) {
                    return Some(i);
                }
                if let Some(i) = self.exact.get(form).and_then(|c| of_provider(models, c, p)) {
                    return Some(i);
                }
                if set.is_some_and(|s| !s.is_match(form)) {
                    continue;
                }
                if let Some(&k) = mine.iter().find(|&&k| self.patterns[k].1.matches(form)) {
                    return Some(self.patterns[k].0);
                }
            }
        }
        let mut fallback = None;
        for form in all_forms() {
            if let Some(&i) = self.user_aliases.get(form) {
                return Some(i);
            }
            if let Some(c) = self.exact.get(form) {
                match want {
                    None if provider_rank(&models[c[0] as usize].provider) < AGGREGATOR => {
                        return Some(c[0])
                    }
                    None => {}
                    Some(p) => {
                        if let Some(i) = of_provider(models, c, p) {
                            return Some(i);
                        }
                    }
                }
                fallback.get_or_insert(c[0]);
            }
            let mut best: Option<(u8, ModelIdx)> = None;
            for k in self.pattern_matches(form) {
                let (i, _) = &self.patterns[k];
                let prov = &*models[*i as usize].provider;
                if want == Some(prov) {
                    return Some(*i);
                }
                let rank = provider_rank(prov);
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, *i));
                }
            }
            if let Some((rank, i)) = best {
                if want.is_none() && rank < AGGREGATOR {
                    return Some(i);
                }
                fallback.get_or_insert(i);
            }
        }
        fallback
    }
}

impl Index {
    /// Indices (ascending, i.e. in pattern order) of the patterns that match `form`.
    fn pattern_matches(&self, form: &str) -> Vec<usize> {
        let matches = |k: &usize| self.patterns[*k].1.matches(form);
        match &self.pattern_set {
            // The set narrows the candidates in one pass; each is confirmed with its own rule
            // (exact semantics, and `all` rules, which the set cannot express, are confirmed).
            // `is_match` first: no allocation, and most forms match no pattern at all.
            Some(set) if !set.is_match(form) => Vec::new(),
            Some(set) => set.matches(form).into_iter().filter(matches).collect(),
            None => (0..self.patterns.len()).filter(matches).collect(),
        }
    }
}

/// One regex per pattern rule, matching at least whatever the rule matches (input and literals
/// are lower-case already).
fn rule_regex(rule: &MatchRule) -> String {
    match rule {
        MatchRule::Equals(s) => format!("^{}$", regex::escape(s)),
        MatchRule::StartsWith(s) => format!("^{}", regex::escape(s)),
        MatchRule::EndsWith(s) => format!("{}$", regex::escape(s)),
        MatchRule::Contains(s) => regex::escape(s),
        MatchRule::Regex(r) => format!("(?i:{})", r.as_str()),
        // A conjunction is not expressible in one regex: always a candidate, confirmed later.
        MatchRule::All(_) => String::new(),
    }
}

fn build_pattern_set(patterns: &[(ModelIdx, MatchRule)]) -> Option<regex::RegexSet> {
    regex::RegexSetBuilder::new(patterns.iter().map(|(_, r)| rule_regex(r)))
        .build()
        .ok()
}

/// The normalisation ladder: successive forms of a (lower-case) id, each tried for an exact
/// match in order, with the provider a stripped prefix implies.
pub(crate) fn ladder(id: &str) -> Vec<(String, Option<&'static str>)> {
    let mut out: Vec<(String, Option<&'static str>)> = Vec::with_capacity(4);
    // Every step narrows `cur` to a part of `id`: no allocation but the forms pushed.
    let mut cur: &str = id.trim();
    let mut hint: Option<&'static str> = looks_like_bedrock(cur).then_some("aws.bedrock");
    let push = |out: &mut Vec<(String, Option<&'static str>)>, s: &str, h| {
        if s != id && !s.is_empty() && !out.iter().any(|(f, _)| f == s) {
            out.push((s.to_owned(), h));
        }
    };

    // Bedrock ARNs: `arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic.claude-...`
    // and `...:foundation-model/anthropic.claude-...`: the model is the last path segment.
    if cur.starts_with("arn:") {
        if let Some(pos) = cur.rfind('/') {
            cur = &cur[pos + 1..];
            hint = Some("aws.bedrock");
            push(&mut out, cur, hint);
        }
    }
    // Vertex resource names: `projects/p/locations/l/publishers/google/models/gemini-1.5-pro`.
    if let Some(pos) = cur.contains('/').then(|| cur.rfind("/models/")).flatten() {
        if cur.starts_with("projects/") || cur.contains("publishers/") {
            cur = &cur[pos + "/models/".len()..];
            hint = hint.or(Some("gcp.vertex_ai"));
            push(&mut out, cur, hint);
        }
    }
    // Provider prefixes, repeatedly (`openrouter/anthropic/claude-...`, `bedrock/converse/...`),
    // and AWS region segments (`bedrock/us-east-1/...`).
    while let Some((first, rest)) = cur.split_once('/') {
        if let Some((_, h)) = PREFIXES.iter().find(|(p, _)| *p == first) {
            hint = hint.or(*h);
        } else if first == "accounts" {
            // fireworks: accounts/fireworks/models/<id>
            match rest.rsplit_once("/models/") {
                Some((_, m)) => {
                    cur = m;
                    hint = hint.or(Some("fireworks_ai"));
                    push(&mut out, cur, hint);
                }
                None => break,
            }
            continue;
        } else if !is_aws_region(first) {
            break;
        }
        cur = rest;
        push(&mut out, cur, hint);
    }
    // `ft:gpt-4o-mini-2024-07-18:org:name:id` -> `ft:gpt-4o-mini-2024-07-18` -> base model.
    if let Some(rest) = cur.strip_prefix("ft:") {
        let base = rest.split(':').next().unwrap_or(rest);
        push(&mut out, &format!("ft:{base}"), hint);
        cur = base;
        push(&mut out, cur, hint);
    }
    // Vertex `claude-3-5-sonnet@20240620` -> `claude-3-5-sonnet-20240620` -> `claude-3-5-sonnet`.
    if let Some((name, ver)) = cur.split_once('@') {
        if ver.bytes().all(|b| b.is_ascii_digit()) {
            push(&mut out, &format!("{name}-{ver}"), hint);
        }
        cur = name;
        push(&mut out, cur, hint);
    }
    // Bedrock version suffixes: `:0`, `:0:200k`, then `-v1`/`-v2`.
    if let Some(s) = strip_bedrock_revision(cur) {
        cur = s;
        push(&mut out, cur, hint);
    }
    if let Some(s) = strip_version(cur) {
        cur = s;
        push(&mut out, cur, hint);
    }
    // `-latest` aliases.
    if let Some(s) = cur.strip_suffix("-latest") {
        cur = s;
        push(&mut out, cur, hint);
    }
    // Dated snapshots: `-2024-08-06`, `-20241022`.
    if let Some(s) = strip_date(cur) {
        push(&mut out, s, hint);
    }
    out
}

/// Bedrock model ids: `[geo.]vendor.model[-vN:M]` (`us.anthropic.claude-...`, `amazon.nova-pro-v1:0`).
fn looks_like_bedrock(s: &str) -> bool {
    const GEOS: &[&str] = &[
        "us", "eu", "apac", "global", "jp", "au", "ca", "us-gov", "in",
    ];
    const VENDORS: &[&str] = &[
        "anthropic",
        "amazon",
        "meta",
        "mistral",
        "cohere",
        "ai21",
        "deepseek",
        "qwen",
        "openai",
        "writer",
        "twelvelabs",
        "moonshotai",
        "minimax",
        "nvidia",
        "google",
    ];
    let mut parts = s.splitn(3, '.');
    let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
        return false;
    };
    VENDORS.contains(&a) || (GEOS.contains(&a) && VENDORS.contains(&b))
}

fn is_aws_region(s: &str) -> bool {
    // us-east-1, eu-central-2, ap-southeast-1, us-gov-west-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

fn strip_bedrock_revision(s: &str) -> Option<&str> {
    let (head, tail) = s.split_once(':')?;
    let ok = tail
        .split(':')
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()));
    (ok && !head.is_empty()).then_some(head)
}

fn strip_version(s: &str) -> Option<&str> {
    // `<head>-v<digits>`, without building a substring searcher (this runs on every cold id).
    let digits = s.bytes().rev().take_while(u8::is_ascii_digit).count();
    let rest = &s[..s.len() - digits];
    let head = rest.strip_suffix("-v")?;
    (digits > 0 && !head.is_empty()).then_some(head)
}

fn strip_date(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    // -YYYY-MM-DD
    if b.len() > 11 {
        let t = &b[b.len() - 11..];
        if t[0] == b'-'
            && digits(&t[1..5])
            && t[5] == b'-'
            && digits(&t[6..8])
            && t[8] == b'-'
            && digits(&t[9..])
        {
            return Some(&s[..s.len() - 11]);
        }
    }
    // -YYYYMMDD (starting with 19 or 20)
    if b.len() > 9 {
        let t = &b[b.len() - 9..];
        if t[0] == b'-' && digits(&t[1..]) && (t[1..3] == *b"20" || t[1..3] == *b"19") {
            return Some(&s[..s.len() - 9]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_ascii_uppercase_matches_the_byte_loop() {
        let mut cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"gpt-4o-2024-08-06".to_vec(),
            b"GPT-4o".to_vec(),
            b"gpt-4o-2024-08-0Z".to_vec(),
            b"claude-sonnet-4-5@20250929".to_vec(),
            "modèle-é-Ω".as_bytes().to_vec(),
            "modèle-É".as_bytes().to_vec(),
        ];
        // Every byte value at every position of a 17-byte id.
        for pos in 0..17 {
            for b in 0..=255u8 {
                let mut v = b"gpt-4o-2024-08-06".to_vec();
                v[pos] = b;
                cases.push(v);
            }
        }
        for c in cases {
            assert_eq!(
                has_ascii_uppercase(&c),
                c.iter().any(u8::is_ascii_uppercase),
                "{c:?}"
            );
        }
    }

    #[test]
    fn trim_matches_str_trim() {
        let mut cases: Vec<String> = [
            "",
            " ",
            "\n",
            "gpt-4o",
            " gpt-4o",
            "gpt-4o\n",
            "\u{a0}gpt-4o",
            "gpt-4o\u{3000}",
            "gpt-4o\u{2028}",
            "modèle",
            "é",
            "a",
            "4",
            "-gpt-4o-",
            "gpt 4o",
        ]
        .map(String::from)
        .to_vec();
        // Every character below U+0100 (and some whitespace above) at either end.
        let ends = (0u32..0x100)
            .chain([
                0x1680, 0x2000, 0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff,
            ])
            .filter_map(char::from_u32);
        for c in ends {
            cases.push(format!("{c}gpt-4o"));
            cases.push(format!("gpt-4o{c}"));
            cases.push(format!("{c}"));
        }
        for c in &cases {
            assert_eq!(trim(c), c.trim(), "{c:?}");
        }
    }

    fn forms(id: &str) -> Vec<String> {
        ladder(id).into_iter().map(|(f, _)| f).collect()
    }

    /// The plain walk `resolve_slow` must agree with: at each form user alias, exact, then every
    /// pattern one by one in order (no regex set, no provider fast pass).
    fn reference(ix: &Index, models: &[Model], key: &str, want: Option<&str>) -> Option<ModelIdx> {
        let forms = ladder(key);
        let want = want.or_else(|| forms.iter().find_map(|(_, h)| *h));
        let mut fallback = None;
        for form in std::iter::once(key).chain(forms.iter().map(|(f, _)| f.as_str())) {
            if let Some(&i) = ix.user_aliases.get(form) {
                return Some(i);
            }
            if let Some(c) = ix.exact.get(form) {
                match want {
                    None if provider_rank(&models[c[0] as usize].provider) < AGGREGATOR => {
                        return Some(c[0])
                    }
                    None => {}
                    Some(p) => {
                        if let Some(i) = of_provider(models, c, p) {
                            return Some(i);
                        }
                    }
                }
                fallback.get_or_insert(c[0]);
            }
            let mut best: Option<(u8, ModelIdx)> = None;
            for (i, rule) in &ix.patterns {
                if !rule.matches(form) {
                    continue;
                }
                let prov = &*models[*i as usize].provider;
                if want == Some(prov) {
                    return Some(*i);
                }
                let rank = provider_rank(prov);
                if best.is_none_or(|(r, _)| rank < r) {
                    best = Some((rank, *i));
                }
            }
            if let Some((rank, i)) = best {
                if want.is_none() && rank < AGGREGATOR {
                    return Some(i);
                }
                fallback.get_or_insert(i);
            }
        }
        fallback
    }

    #[test]
    fn fast_paths_agree_with_the_plain_walk() {
        let c = crate::pricing::Catalog::embedded().unwrap();
        let (ix, models) = (&c.index, &c.models[..]);
        assert!(ix.pattern_set.is_some());
        let mut n = 0;
        for m in models.iter().step_by(5) {
            let id = m.id.to_ascii_lowercase();
            for key in [
                id.clone(),
                format!("{id}-20250101"),
                format!("openai/{id}"),
                format!("bedrock/converse/{id}"),
                format!("arn:aws:bedrock:us-east-1:1:inference-profile/{id}"),
                format!("ft:{id}:org::x"),
                format!("{id}@20240101"),
                format!("my-{id}-custom"),
            ] {
                for p in [
                    None,
                    Some(&*m.provider),
                    Some("openai"),
                    Some("aws.bedrock"),
                    Some("nobody"),
                ] {
                    n += 1;
                    assert_eq!(
                        ix.resolve_slow(models, &key, p),
                        reference(ix, models, &key, p),
                        "{key} {p:?}"
                    );
                }
            }
        }
        assert!(n > 10_000);
    }

    #[test]
    fn every_pattern_is_in_the_regex_set() {
        // The set is a prefilter: it must never miss what a rule matches.
        let c = crate::pricing::Catalog::embedded().unwrap();
        let ix = &c.index;
        let set = ix.pattern_set.as_ref().unwrap();
        for (k, (_, rule)) in ix.patterns.iter().enumerate() {
            let probe = match rule {
                MatchRule::Equals(s) => s.clone(),
                MatchRule::StartsWith(s) => format!("{s}zz"),
                MatchRule::EndsWith(s) => format!("zz{s}"),
                MatchRule::Contains(s) => format!("zz{s}zz"),
                MatchRule::Regex(_) | MatchRule::All(_) => continue,
            };
            assert!(rule.matches(&probe), "{probe}");
            assert!(set.matches(&probe).matched(k), "{k}: {probe}");
        }
        // Regex rules: every catalog id or alias a regex rule matches is in the set too.
        for m in &c.models {
            for a in
                std::iter::once(m.id.to_ascii_lowercase()).chain(m.aliases().map(str::to_owned))
            {
                let hits = set.matches(&a);
                for (k, (_, rule)) in ix.patterns.iter().enumerate() {
                    if rule.matches(&a) {
                        assert!(hits.matched(k), "{k}: {a}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_resolve_cache_stays_within_its_byte_budget() {
        // Entries of every size up to the span limits, under budgets small enough to be
        // reached many times (and the real one).
        for max in [2_000, 50_000, 300_000, MATCH_CACHE_MAX_BYTES] {
            let mut c = ResolveCache::default();
            for i in 0..20_000usize {
                let model = "m".repeat(1 + i % super::super::MAX_MODEL_ID_BYTES);
                let provider = format!("{i:x}").repeat(1 + i % 20);
                c.insert(&model, Some(&provider), Some(1), max);
                assert!(c.bytes() <= max, "{} > {max} after {i}", c.bytes());
                assert!(c.map.len() <= MATCH_CACHE_CAPACITY);
            }
        }
        // An entry alone over the budget is not cached.
        let mut c = ResolveCache::default();
        c.insert(&"m".repeat(5_000), Some("p"), None, 1_000);
        assert_eq!((c.map.len(), c.bytes()), (0, 0));
    }

    /// Guards issue 13, B5: one model with many providers was a list scanned per lookup.
    #[test]
    fn one_model_with_many_providers_is_one_cache_entry_per_pair() {
        let c = crate::pricing::Catalog::embedded().unwrap();
        let (ix, models) = (&c.index, &c.models[..]);
        // A ladder form (not an exact alias), so it goes through the cache.
        let id = "openai/gpt-4o-2024-08-06";
        let want = ix.resolve_slow(models, id, Some("prov-x"));
        assert!(want.is_some());
        ix.resolve(models, id, None);
        for i in 0..3_000 {
            let p = format!("prov-{i}");
            assert_eq!(ix.resolve(models, id, Some(&p)), want, "{p}");
            let cache = ix.cache.read().unwrap();
            // Each pair is its own entry, found by one lookup.
            assert_eq!(cache.get(id, Some(&p)), Some(want), "{p}");
            assert_eq!(cache.get(id, Some(&format!("{p}x"))), None);
            assert_eq!(cache.map.len(), i + 2);
            assert_eq!(ix.cache_bytes(), cache.bytes());
        }
        // Case and spelling of the provider are canonical before the cache: one entry.
        let openai = ix.resolve(models, id, Some("OpenAI"));
        assert_eq!(ix.resolve(models, id, Some("openai")), openai);
        assert_eq!(
            ix.cache.read().unwrap().get(id, Some("openai")),
            Some(openai)
        );
        assert!(ix.cache.read().unwrap().get(id, None).is_some());
        assert_eq!(ix.cache.read().unwrap().map.len(), 3_002);
    }

    #[test]
    fn ladder_strips_provider_prefixes_and_keeps_geography() {
        assert_eq!(
            forms("openai/gpt-4o-2024-08-06"),
            ["gpt-4o-2024-08-06", "gpt-4o"]
        );
        let f = forms("bedrock/converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(
            f[0],
            "converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
        );
        assert_eq!(f[1], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert!(f.contains(&"us.anthropic.claude-sonnet-4-5-20250929".to_owned()));
        assert!(f.iter().all(|x| !x.starts_with("anthropic.")), "{f:?}");
    }

    #[test]
    fn ladder_handles_arns_vertex_and_fine_tunes() {
        let f = forms("arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(f[0], "eu.anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(
            ladder("arn:aws:bedrock:us-east-1::foundation-model/x")[0].1,
            Some("aws.bedrock")
        );
        assert_eq!(
            forms("claude-3-5-sonnet@20240620"),
            ["claude-3-5-sonnet-20240620", "claude-3-5-sonnet"]
        );
        assert_eq!(
            forms("ft:gpt-4o-mini-2024-07-18:acme:support:9abc"),
            [
                "ft:gpt-4o-mini-2024-07-18",
                "gpt-4o-mini-2024-07-18",
                "gpt-4o-mini"
            ]
        );
        assert_eq!(forms("claude-3-5-sonnet-latest"), ["claude-3-5-sonnet"]);
        assert_eq!(
            forms("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"),
            ["gemini-2.5-pro"]
        );
        assert_eq!(forms("gpt-4o"), Vec::<String>::new());
    }

    #[test]
    fn date_and_version_suffixes() {
        assert_eq!(
            strip_date("claude-3-5-sonnet-20241022"),
            Some("claude-3-5-sonnet")
        );
        assert_eq!(strip_date("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(strip_date("gpt-3.5-turbo-0125"), None);
        assert_eq!(
            strip_version("anthropic.claude-v2"),
            Some("anthropic.claude")
        );
        assert_eq!(
            strip_bedrock_revision("anthropic.claude-v2:1"),
            Some("anthropic.claude-v2")
        );
        assert_eq!(
            strip_bedrock_revision("meta-llama/llama-3-8b:free"),
            Some("meta-llama/llama-3-8b")
        );
        assert_eq!(strip_version("model-v"), None);
        assert_eq!(strip_version("-v1"), None);
        assert_eq!(strip_version("nova-pro-v10"), Some("nova-pro"));
        assert!(is_aws_region("us-east-1") && !is_aws_region("us.anthropic"));
    }
}
