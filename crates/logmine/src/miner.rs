//! The online miner: assigns each line to a cluster, creating and generalising templates.
//!
//! See the crate documentation for the algorithm; the comments here explain the mechanics.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::hash::{fast_hash, FastMap, Fnv64};
use crate::mask::{self, has_marker, is_marker, MaskedLine, WILD};

/// Settings of a [`Miner`]. The defaults are the one configuration used for every dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinerConfig {
    /// Minimum share of a line's tokens that must equal the template's (or fall on one of its
    /// variable positions) for the line to join the cluster. Default 0.5.
    pub similarity_threshold: f64,
    /// A position where this many clusters, otherwise alike, hold different constant words is
    /// a variable, and those clusters merge. Default 5.
    pub variable_threshold: usize,
    /// Most clusters kept; beyond it the least recently seen are evicted. Default 10 000.
    pub max_clusters: usize,
    /// Tokens of a line considered; the rest is ignored. Default 128.
    pub max_tokens: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        Self {
            similarity_threshold: 0.5,
            variable_threshold: 5,
            max_clusters: 10_000,
            max_tokens: 128,
        }
    }
}

/// The id of a cluster: stable across generalisation, restarts and processes.
///
/// A new cluster's id is a hash of the template it starts with (placeholder kinds ignored), so
/// the same first line gives the same id in every process; the id then stays with the cluster
/// however its template is generalised. Ids of clusters absorbed by a merge resolve to the
/// surviving cluster (see [`Miner::resolve`]). Printed as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ClusterId(pub u64);

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for ClusterId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(ClusterId)
    }
}

impl From<ClusterId> for String {
    fn from(id: ClusterId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for ClusterId {
    type Error = std::num::ParseIntError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// One cluster: a template and what was seen of it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) id: ClusterId,
    /// Template tokens in the internal encoding (placeholder bytes, `WILD` for `<*>`).
    pub(crate) tokens: Vec<Box<[u8]>>,
    pub(crate) template: String,
    pub(crate) typed_template: String,
    pub(crate) example: String,
    pub(crate) count: u64,
    pub(crate) created: u64,
    pub(crate) last_seen: u64,
}

impl Cluster {
    /// The stable id.
    pub fn id(&self) -> ClusterId {
        self.id
    }

    /// The template with `<*>` for every variable, as Loghub writes them.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The template with typed placeholders (`<NUM>`, `<IP>`, …); `<*>` marks positions that
    /// took different kinds of values.
    pub fn typed_template(&self) -> &str {
        &self.typed_template
    }

    /// Lines assigned to the cluster, including those of clusters merged into it.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The first line of the cluster, masked: never the raw line, so no secret is kept.
    pub fn example(&self) -> &str {
        &self.example
    }

    /// The miner's line number (see [`Miner::lines`]) when the cluster was last matched.
    pub fn last_seen(&self) -> u64 {
        self.last_seen
    }

    fn render(&mut self) {
        let joined = join(&self.tokens);
        self.template = mask::render(&joined, false);
        self.typed_template = mask::render(&joined, true);
    }
}

fn join(tokens: &[Box<[u8]>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tokens.iter().map(|t| t.len() + 1).sum());
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(t);
    }
    out
}

/// Longest example kept, in bytes.
const MAX_EXAMPLE_BYTES: usize = 1024;

/// How many same-length clusters, newest first, are examined when looking for siblings.
const SIBLING_SCAN: usize = 512;

/// Bucket key of a first token that holds a variable.
const WILD_KEY: u64 = 0;

/// The bucket key of a first token: its hash, or [`WILD_KEY`] if it holds a variable or a
/// digit (`IRQ9`, `eth0:`), which may differ between lines of one event.
fn first_key(token: Option<&[u8]>) -> u64 {
    match token {
        Some(t) if !t.iter().any(|&b| is_marker(b) || b.is_ascii_digit()) => fast_hash(t) | 1,
        _ => WILD_KEY,
    }
}

/// How a template token relates to a line token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmp {
    /// The same bytes.
    Equal,
    /// The template has a variable here; `true` if the line token fits its fixed affixes.
    Wild(bool),
    /// Different, but the difference involves a placeholder, only digits, or a token that is
    /// a lone placeholder: the same event with a value the masking saw differently.
    Soft,
    /// Different constant words: a different event unless the position proves variable.
    Hard,
}

/// Common prefix and suffix lengths of two tokens, cut at character boundaries.
fn affixes(a: &[u8], b: &[u8]) -> (usize, usize) {
    let max = a.len().min(b.len());
    let mut p = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    while p > 0 && (is_continuation(a.get(p)) || is_continuation(b.get(p))) {
        p -= 1;
    }
    let mut s = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(max - p)
        .take_while(|(x, y)| x == y)
        .count();
    while s > 0 && is_continuation(a.get(a.len() - s)) {
        s -= 1;
    }
    (p, s)
}

#[inline]
fn is_continuation(b: Option<&u8>) -> bool {
    b.is_some_and(|&b| (0x80..0xc0).contains(&b))
}

#[inline]
fn compare(t: &[u8], l: &[u8]) -> Cmp {
    if t == l {
        return Cmp::Equal;
    }
    if let Some(w) = t.iter().position(|&b| b == WILD) {
        let (pre, suf) = (&t[..w], &t[w + 1..]);
        let fits = l.len() >= pre.len() + suf.len() && l.starts_with(pre) && l.ends_with(suf);
        return Cmp::Wild(fits);
    }
    // The same shape with placeholders of different kinds: the same value seen differently.
    if mask::same_shape(t, l) {
        return Cmp::Wild(false);
    }
    let (p, s) = affixes(t, l);
    let (mt, ml) = (&t[p..t.len() - s], &l[p..l.len() - s]);
    let digits = |m: &[u8]| m.iter().all(u8::is_ascii_digit);
    if has_marker(mt)
        || has_marker(ml)
        // `eth0` vs `eth1`: only a number differs.
        || (digits(mt) && digits(ml))
        // A lone placeholder against anything: the masking caught the value in one line and
        // not in the other (`<ID>` vs `MSRA-SA-<ID>`).
        || lone_placeholder(t)
        || lone_placeholder(l)
    {
        Cmp::Soft
    } else {
        Cmp::Hard
    }
}

/// True if a token is placeholders and punctuation only.
fn lone_placeholder(t: &[u8]) -> bool {
    has_marker(t) && !t.iter().any(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
}

/// `t` generalised to also cover `l`: their common affixes around one `<*>`. A placeholder
/// next to the `<*>` is redundant and joins it.
fn generalise(t: &[u8], l: &[u8]) -> Box<[u8]> {
    let (mut p, mut s) = affixes(t, l);
    while p > 0 && is_marker(t[p - 1]) {
        p -= 1;
    }
    while s > 0 && is_marker(t[t.len() - s]) {
        s -= 1;
    }
    let mut out = Vec::with_capacity(p + s + 1);
    out.extend_from_slice(&t[..p]);
    out.push(WILD);
    out.extend_from_slice(&t[t.len() - s..]);
    out.into_boxed_slice()
}

/// The comparison of a line with one template.
#[derive(Clone, Copy, Default)]
struct Score {
    equal: u32,
    wild: u32,
    soft: u32,
    hard: u32,
    /// Position of the (last) hard mismatch.
    hard_pos: u32,
    /// Whether the template must be generalised to cover the line.
    dirty: bool,
}

/// Compares a line with a template of the same length; `None` once more than `max_hard` hard
/// mismatches are found.
#[inline]
fn score(tokens: &[Box<[u8]>], line: &MaskedLine, max_hard: u32) -> Option<Score> {
    let mut s = Score::default();
    for (i, t) in tokens.iter().enumerate() {
        match compare(t, line.token(i)) {
            Cmp::Equal => s.equal += 1,
            Cmp::Wild(fits) => {
                s.wild += 1;
                s.dirty |= !fits;
            }
            Cmp::Soft => {
                s.soft += 1;
                s.dirty = true;
            }
            Cmp::Hard => {
                s.hard += 1;
                s.hard_pos = i as u32;
                if s.hard > max_hard {
                    return None;
                }
            }
        }
    }
    Some(s)
}

/// The online log-template miner.
///
/// ```
/// use flexgate_logmine::{Miner, MinerConfig};
///
/// let mut miner = Miner::new(MinerConfig::default());
/// let a = miner.add("Connection from 10.0.0.1:5000 closed after 12ms");
/// let b = miner.add("Connection from 10.0.0.7:5123 closed after 3.5s");
/// assert_eq!(a, b);
/// assert_eq!(miner.template(a), Some("Connection from <*> closed after <*>"));
/// ```
#[derive(Debug, Clone)]
pub struct Miner {
    pub(crate) config: MinerConfig,
    slots: Vec<Option<Cluster>>,
    free: Vec<u32>,
    live: usize,
    by_id: FastMap<ClusterId, u32>,
    /// (token count, first-token key) → slots, in creation order.
    buckets: FastMap<(u32, u64), Vec<u32>>,
    /// token count → slots, in creation order.
    by_len: FastMap<u32, Vec<u32>>,
    /// Ids absorbed by merges → the id they merged into, oldest first in `alias_order`.
    aliases: FastMap<ClusterId, ClusterId>,
    alias_order: VecDeque<ClusterId>,
    /// Lines added so far; also the clock for recency.
    tick: u64,
    scratch: MaskedLine,
}

impl Default for Miner {
    fn default() -> Self {
        Self::new(MinerConfig::default())
    }
}

impl Miner {
    /// An empty miner.
    pub fn new(config: MinerConfig) -> Self {
        Self {
            config,
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_id: FastMap::default(),
            buckets: FastMap::default(),
            by_len: FastMap::default(),
            aliases: FastMap::default(),
            alias_order: VecDeque::new(),
            tick: 0,
            scratch: MaskedLine::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Lines added so far.
    pub fn lines(&self) -> u64 {
        self.tick
    }

    /// Number of clusters.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True if no cluster exists.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds a line: finds its cluster, generalising the template if needed, or creates one.
    ///
    /// The returned id stays valid while the cluster lives; if the cluster is later merged
    /// into another, [`Miner::resolve`] maps the id to the survivor.
    pub fn add(&mut self, line: &str) -> ClusterId {
        self.tick += 1;
        let mut masked = std::mem::take(&mut self.scratch);
        mask::mask_into(line, self.config.max_tokens.max(1), &mut masked);
        let slot = match self.best_match(&masked) {
            Some((slot, score)) => {
                self.absorb_line(slot, &masked, score.dirty);
                slot
            }
            None => match self.merge_siblings(&masked) {
                Some(slot) => slot,
                None => self.create(&masked),
            },
        };
        self.scratch = masked;
        self.cluster_at(slot).id
    }

    /// The cluster a line would join, without learning from it: no template changes, no new
    /// cluster, no merge.
    pub fn match_line(&self, line: &str) -> Option<ClusterId> {
        let mut masked = MaskedLine::default();
        mask::mask_into(line, self.config.max_tokens.max(1), &mut masked);
        self.best_match(&masked)
            .map(|(slot, _)| self.cluster_at(slot).id)
    }

    /// The live id for `id`: itself if its cluster exists, the survivor if it was merged, or
    /// `None` if it was evicted (or never existed).
    pub fn resolve(&self, id: ClusterId) -> Option<ClusterId> {
        let mut id = id;
        // Merges chain (a survivor can itself be merged later); the chain is short, and the
        // bound guards against a cycle in a hand-edited snapshot.
        for _ in 0..64 {
            if self.by_id.contains_key(&id) {
                return Some(id);
            }
            id = *self.aliases.get(&id)?;
        }
        None
    }

    /// The cluster of `id` (following merges).
    pub fn cluster(&self, id: ClusterId) -> Option<&Cluster> {
        let id = self.resolve(id)?;
        let slot = *self.by_id.get(&id)?;
        self.slots[slot as usize].as_ref()
    }

    /// The template of `id` with `<*>` for variables (following merges).
    pub fn template(&self, id: ClusterId) -> Option<&str> {
        self.cluster(id).map(Cluster::template)
    }

    /// Every cluster, in no particular order.
    pub fn clusters(&self) -> impl Iterator<Item = &Cluster> + '_ {
        self.slots.iter().flatten()
    }

    fn cluster_at(&self, slot: u32) -> &Cluster {
        match &self.slots[slot as usize] {
            Some(c) => c,
            None => unreachable!("index points at an empty slot"),
        }
    }

    fn cluster_at_mut(&mut self, slot: u32) -> &mut Cluster {
        match &mut self.slots[slot as usize] {
            Some(c) => c,
            None => unreachable!("index points at an empty slot"),
        }
    }

    /// The best cluster for the line among those of its length whose first token equals the
    /// line's or is variable: most equal tokens, then most variable positions, then oldest.
    fn best_match(&self, line: &MaskedLine) -> Option<(u32, Score)> {
        let n = line.len() as u32;
        let (own, wild) = self.candidates(line);
        let needed = self.config.similarity_threshold * f64::from(n);
        let mut best: Option<(u32, Score)> = None;
        for &slot in own.iter().chain(wild) {
            let c = self.cluster_at(slot);
            let Some(s) = score(&c.tokens, line, 0) else {
                continue;
            };
            if f64::from(s.equal + s.wild) < needed {
                continue;
            }
            // A soft difference generalises the template, which needs more evidence than
            // filling an existing `<*>`: more than the threshold share of tokens exactly equal.
            if s.soft > 0 && f64::from(s.equal) <= needed {
                continue;
            }
            let better = match &best {
                None => true,
                Some((b_slot, b)) => {
                    (s.equal, s.wild) > (b.equal, b.wild)
                        || ((s.equal, s.wild) == (b.equal, b.wild)
                            && c.created < self.cluster_at(*b_slot).created)
                }
            };
            if better {
                best = Some((slot, s));
                // Every token equal: no other template can be as close (two templates equal to
                // the same line would be identical, and identical templates are merged).
                if s.equal == n {
                    break;
                }
            }
        }
        best
    }

    /// The clusters a line can join: those of its length whose first token is the line's, and
    /// those whose first token is variable.
    fn candidates(&self, line: &MaskedLine) -> (&[u32], &[u32]) {
        let n = line.len() as u32;
        let key = first_key((n > 0).then(|| line.token(0)));
        let own = self
            .buckets
            .get(&(n, key))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let wild = if key == WILD_KEY {
            &[][..]
        } else {
            self.buckets
                .get(&(n, WILD_KEY))
                .map(Vec::as_slice)
                .unwrap_or(&[])
        };
        (own, wild)
    }

    /// Counts the line into the cluster and generalises its template where needed.
    fn absorb_line(&mut self, slot: u32, line: &MaskedLine, dirty: bool) {
        let tick = self.tick;
        let c = self.cluster_at_mut(slot);
        c.count += 1;
        c.last_seen = tick;
        if !dirty {
            return;
        }
        let old_key = first_key(c.tokens.first().map(|t| &t[..]));
        for (i, t) in c.tokens.iter_mut().enumerate() {
            let l = line.token(i);
            match compare(t, l) {
                Cmp::Equal | Cmp::Wild(true) => {}
                _ => *t = generalise(t, l),
            }
        }
        c.render();
        let new_key = first_key(c.tokens.first().map(|t| &t[..]));
        if new_key != old_key {
            let n = c.tokens.len() as u32;
            self.rebucket(slot, n, old_key, new_key);
        }
        self.absorb_covered(slot);
    }

    /// After a template generalised, other clusters of its length that it now covers entirely
    /// are redundant (a line would match either); they merge into it.
    fn absorb_covered(&mut self, slot: u32) {
        let tokens = &self.cluster_at(slot).tokens;
        let n = tokens.len() as u32;
        // A template with a constant first token covers only clusters with the same first
        // token; one with a variable first token may cover any cluster of its length.
        let key = first_key(tokens.first().map(|t| &t[..]));
        let list = if key == WILD_KEY {
            self.by_len.get(&n)
        } else {
            self.buckets.get(&(n, key))
        };
        let Some(list) = list else {
            return;
        };
        let covered: Vec<u32> = list
            .iter()
            .rev()
            .take(SIBLING_SCAN)
            .copied()
            .filter(|&o| {
                o != slot
                    && tokens
                        .iter()
                        .zip(self.cluster_at(o).tokens.iter())
                        .all(|(t, u)| matches!(compare(t, u), Cmp::Equal | Cmp::Wild(true)))
            })
            .collect();
        if covered.is_empty() {
            return;
        }
        let survivor = self.cluster_at(slot).id;
        let mut count = 0;
        let mut last_seen = 0;
        for o in covered {
            let c = self.cluster_at(o);
            count += c.count;
            last_seen = last_seen.max(c.last_seen);
            let id = c.id;
            self.remove(&[o]);
            self.add_alias(id, survivor);
        }
        let c = self.cluster_at_mut(slot);
        c.count += count;
        c.last_seen = c.last_seen.max(last_seen);
    }

    fn rebucket(&mut self, slot: u32, n: u32, old_key: u64, new_key: u64) {
        if let Some(v) = self.buckets.get_mut(&(n, old_key)) {
            v.retain(|&s| s != slot);
            if v.is_empty() {
                self.buckets.remove(&(n, old_key));
            }
        }
        self.buckets.entry((n, new_key)).or_default().push(slot);
    }

    /// The cardinality rule. A line that matched nothing may differ from several clusters in
    /// exactly one constant word, at the same position, while agreeing elsewhere: `removing
    /// chargen`, `removing daytime`, … When [`MinerConfig::variable_threshold`] distinct words
    /// have been seen there, the position is a variable: the clusters merge into the oldest,
    /// with `<*>` at that position, and the line joins it. Fewer distinct words stay separate
    /// clusters, because a handful of recurring words (`Transitioned from RUNNING to
    /// SUCCEEDED`, `… to FAILED`) usually name different events.
    fn merge_siblings(&mut self, line: &MaskedLine) -> Option<u32> {
        let n = line.len();
        if n < 2 || self.config.variable_threshold < 2 {
            return None;
        }
        let needed = self.config.similarity_threshold * n as f64;
        let mut siblings: Vec<(u32, u32)> = Vec::new();
        // Siblings differ after the first token, so they are among the line's candidates.
        let (own, wild) = self.candidates(line);
        for &slot in own.iter().chain(wild) {
            let c = self.cluster_at(slot);
            if let Some(s) = score(&c.tokens, line, 1) {
                // The first word names the event (`boot (command 5)` vs `halt (command 5)`), so
                // it never becomes a variable this way; Drain makes the same assumption.
                if s.hard == 1
                    && s.hard_pos > 0
                    && s.equal >= 1
                    && f64::from(s.equal + s.wild) >= needed
                {
                    siblings.push((s.hard_pos, slot));
                }
            }
        }
        if siblings.len() + 1 < self.config.variable_threshold {
            return None;
        }
        siblings.sort_unstable();
        // The position with the most distinct words.
        let mut best: Option<(usize, Vec<u32>)> = None;
        for group in siblings.chunk_by(|a, b| a.0 == b.0) {
            let pos = group[0].0 as usize;
            let mut values: Vec<&[u8]> = vec![line.token(pos)];
            for &(_, slot) in group {
                let v = &self.cluster_at(slot).tokens[pos][..];
                if !values.contains(&v) {
                    values.push(v);
                }
            }
            if values.len() >= self.config.variable_threshold
                && best.as_ref().is_none_or(|(_, b)| group.len() > b.len())
            {
                best = Some((pos, group.iter().map(|&(_, s)| s).collect()));
            }
        }
        let (pos, mut group) = best?;
        group.sort_by_key(|&s| self.cluster_at(s).created);
        let survivor = group[0];
        let old_key = first_key(self.cluster_at(survivor).tokens.first().map(|t| &t[..]));
        let mut tokens = self.cluster_at(survivor).tokens.clone();
        tokens[pos] = Box::new([WILD]);
        let mut count = 0;
        let mut last_seen = 0;
        let survivor_id = self.cluster_at(survivor).id;
        for &slot in &group[1..] {
            let (other_tokens, other_count, other_seen, other_id) = {
                let o = self.cluster_at(slot);
                (o.tokens.clone(), o.count, o.last_seen, o.id)
            };
            for (t, o) in tokens.iter_mut().zip(other_tokens.iter()) {
                if !matches!(compare(t, o), Cmp::Equal | Cmp::Wild(true)) {
                    *t = generalise(t, o);
                }
            }
            count += other_count;
            last_seen = last_seen.max(other_seen);
            self.remove(&[slot]);
            self.add_alias(other_id, survivor_id);
        }
        for (i, t) in tokens.iter_mut().enumerate() {
            let l = line.token(i);
            if !matches!(compare(t, l), Cmp::Equal | Cmp::Wild(true)) {
                *t = generalise(t, l);
            }
        }
        let tick = self.tick;
        let c = self.cluster_at_mut(survivor);
        c.tokens = tokens;
        c.count += count + 1;
        c.last_seen = tick.max(last_seen);
        c.render();
        let new_key = first_key(c.tokens.first().map(|t| &t[..]));
        if new_key != old_key {
            self.rebucket(survivor, n as u32, old_key, new_key);
        }
        self.absorb_covered(survivor);
        Some(survivor)
    }

    fn add_alias(&mut self, from: ClusterId, to: ClusterId) {
        self.aliases.insert(from, to);
        self.alias_order.push_back(from);
        // Aliases are bounded like clusters: only recent merges are remembered.
        while self.alias_order.len() > self.config.max_clusters.max(1) {
            if let Some(old) = self.alias_order.pop_front() {
                self.aliases.remove(&old);
            }
        }
    }

    /// The stable id of a template: FNV-1a over its tokens with every placeholder kind
    /// written as one byte, so `<NUM>` vs `<ID>` does not change it.
    fn template_id(tokens: &[Box<[u8]>]) -> ClusterId {
        let mut h = Fnv64::new();
        for t in tokens {
            for &b in t.iter() {
                h.byte(if is_marker(b) { WILD } else { b });
            }
            h.byte(b' ');
        }
        ClusterId(h.finish())
    }

    fn create(&mut self, line: &MaskedLine) -> u32 {
        if self.live >= self.config.max_clusters.max(1) {
            self.evict();
        }
        let tokens: Vec<Box<[u8]>> = (0..line.len())
            .map(|i| line.token(i).to_vec().into_boxed_slice())
            .collect();
        let mut id = Self::template_id(&tokens);
        // A collision (or the id of a live cluster with a different template) moves to the
        // next free id deterministically.
        while self.by_id.contains_key(&id) {
            id = ClusterId(id.0.wrapping_add(0x9e37_79b9_7f4a_7c15));
        }
        // The id may have belonged to a cluster that was merged away and then evicted.
        self.aliases.remove(&id);
        let mut example = line.full();
        if example.len() > MAX_EXAMPLE_BYTES {
            let mut cut = MAX_EXAMPLE_BYTES;
            while cut > 0 && is_continuation(example.get(cut)) {
                cut -= 1;
            }
            example = &example[..cut];
        }
        let mut cluster = Cluster {
            id,
            tokens,
            template: String::new(),
            typed_template: String::new(),
            example: mask::render(example, true),
            count: 1,
            created: self.tick,
            last_seen: self.tick,
        };
        cluster.render();
        self.insert(cluster)
    }

    /// Places a cluster in a slot and the indexes.
    pub(crate) fn insert(&mut self, cluster: Cluster) -> u32 {
        let n = cluster.tokens.len() as u32;
        let key = first_key(cluster.tokens.first().map(|t| &t[..]));
        let id = cluster.id;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(cluster);
                s
            }
            None => {
                self.slots.push(Some(cluster));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_id.insert(id, slot);
        self.buckets.entry((n, key)).or_default().push(slot);
        self.by_len.entry(n).or_default().push(slot);
        self.live += 1;
        slot
    }

    /// Removes clusters from their slots and every index, with one pass per affected list.
    fn remove(&mut self, slots: &[u32]) {
        let mut lists: Vec<(u32, u64)> = Vec::with_capacity(slots.len());
        for &slot in slots {
            let Some(c) = self.slots[slot as usize].take() else {
                continue;
            };
            let n = c.tokens.len() as u32;
            lists.push((n, first_key(c.tokens.first().map(|t| &t[..]))));
            self.by_id.remove(&c.id);
            self.free.push(slot);
            self.live -= 1;
        }
        lists.sort_unstable();
        lists.dedup();
        let live = &self.slots;
        for &(n, key) in &lists {
            if let Some(v) = self.buckets.get_mut(&(n, key)) {
                v.retain(|&s| live[s as usize].is_some());
                if v.is_empty() {
                    self.buckets.remove(&(n, key));
                }
            }
        }
        lists.dedup_by_key(|(n, _)| *n);
        for &(n, _) in &lists {
            if let Some(v) = self.by_len.get_mut(&n) {
                v.retain(|&s| live[s as usize].is_some());
                if v.is_empty() {
                    self.by_len.remove(&n);
                }
            }
        }
    }

    /// Evicts the least recently seen clusters: 1/64 of the cap at once, so that a stream of
    /// new templates pays for the scan once per many insertions, not on every one.
    fn evict(&mut self) {
        let batch = (self.config.max_clusters / 64).max(1);
        let mut ages: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.as_ref().map(|c| (c.last_seen, i as u32)))
            .collect();
        let batch = batch.min(ages.len());
        if batch == 0 {
            return;
        }
        ages.select_nth_unstable(batch - 1);
        let slots: Vec<u32> = ages[..batch].iter().map(|&(_, slot)| slot).collect();
        self.remove(&slots);
    }

    /// Parts for the snapshot.
    pub(crate) fn parts(&self) -> (u64, Vec<&Cluster>, Vec<(ClusterId, ClusterId)>) {
        let mut clusters: Vec<&Cluster> = self.clusters().collect();
        clusters.sort_by_key(|c| (c.created, c.id));
        let aliases = self
            .alias_order
            .iter()
            .filter_map(|from| self.aliases.get(from).map(|to| (*from, *to)))
            .collect();
        (self.tick, clusters, aliases)
    }

    /// Rebuilds a miner from snapshot parts; the clusters must have unique ids.
    pub(crate) fn from_parts(
        config: MinerConfig,
        tick: u64,
        clusters: Vec<Cluster>,
        aliases: Vec<(ClusterId, ClusterId)>,
    ) -> Self {
        let mut miner = Miner::new(config);
        miner.tick = tick;
        for mut c in clusters {
            c.render();
            miner.insert(c);
        }
        for (from, to) in aliases {
            miner.add_alias(from, to);
        }
        miner
    }

    /// Whether `id` is a live cluster.
    pub(crate) fn contains(&self, id: ClusterId) -> bool {
        self.by_id.contains_key(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affixes_respect_char_boundaries() {
        // "é" and "è" share their first byte.
        let (p, s) = affixes("aé".as_bytes(), "aè".as_bytes());
        assert_eq!((p, s), (1, 0));
        let g = generalise("xé".as_bytes(), "xè".as_bytes());
        assert_eq!(&g[..], &[b'x', WILD]);
    }

    #[test]
    fn soft_and_hard_mismatches() {
        let num = [0x10u8];
        assert!(compare(b"alt0", b"ee0") == Cmp::Hard);
        assert!(compare(b"chdir(\x15)", b"chdir(pwd)") == Cmp::Soft);
        assert!(compare(&num, b"abc") == Cmp::Soft);
        assert!(compare(b"x\x1f)", b"xyz)") == Cmp::Wild(true));
        assert!(compare(b"x\x1f)", b"yz") == Cmp::Wild(false));
    }
}
