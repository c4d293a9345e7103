//! Streaming log-template mining ("error clustering") for FlexGate.
//!
//! A [`Miner`] reads log lines one at a time and puts each into a cluster of lines that share a
//! template: `Connection from <*> closed after <*>`. The agent uses it to group error messages
//! and the control plane to count them; both need it online (one pass, constant work per
//! line), bounded in memory, and with ids that stay the same across restarts. The crate is pure
//! computation: no I/O except reading evaluation files, no async runtime, no global state.
//!
//! # Algorithm
//!
//! The design follows Drain (He et al., ICWS 2017): lines are grouped by token count and first
//! token, and a line joins the most similar template in its group if enough tokens agree,
//! turning the positions that differ into wildcards. It departs from Drain where Drain's
//! benchmark results show systematic errors:
//!
//! 1. **Typed masking first** ([`mask`]): numbers, ids, addresses, paths, URLs, durations,
//!    sizes and secrets become placeholders before clustering, with one rule set for all logs.
//!    Repeated groups (`blk_<NUM> blk_<NUM> …`) collapse, so lists of any length agree.
//! 2. **Hard and soft differences.** Two tokens that differ only where one holds a placeholder
//!    (`chdir(<PATH>)` vs `chdir(pwd)`) are a *soft* difference: the same event, generalised.
//!    Two tokens that differ in constant words (`RUNNING` vs `FAILED`, `alt0` vs `ee0`) are a
//!    *hard* difference, and a line never joins a template across one. Drain merges any lines
//!    that agree on half their tokens, which fuses events that differ in one word.
//! 3. **Variables by cardinality.** Words that are really variables (`removing chargen`,
//!    `removing daytime`, …) are found by counting: when clusters that agree everywhere except
//!    one constant position show [`MinerConfig::variable_threshold`] different words there,
//!    the position is a variable and the clusters merge. A few recurring words stay separate
//!    events, and the first word, which names the event, is never a variable this way.
//! 4. **Subsumption.** When a template generalises, the clusters it now covers merge into it, so
//!    arrival order does not split an event.
//!
//! `docs/logmine.md` in the repository has the details, the measured accuracy on the Loghub
//! benchmark and the throughput.
//!
//! # Ids
//!
//! A cluster's [`ClusterId`] is a hash of the template it was created with, so the same line
//! starts the same cluster id in any process, and it stays with the cluster while the template
//! is generalised. [`Miner::save`] and [`Miner::load`] carry the clusters across restarts; after
//! a reload the same lines map to the same ids. When clusters merge, the oldest keeps its id and
//! [`Miner::resolve`] maps the others to it.
//!
//! # Memory
//!
//! At most [`MinerConfig::max_clusters`] clusters are kept (the least recently seen are
//! evicted), at most [`MinerConfig::max_tokens`] tokens of a line are considered, a token is at
//! most [`mask::MAX_TOKEN_BYTES`] bytes and an example at most 1 KiB. Merge aliases are bounded
//! by the cluster cap.
//!
//! # Example
//!
//! ```
//! use flexgate_logmine::{Miner, MinerConfig};
//!
//! let mut miner = Miner::new(MinerConfig::default());
//! let a = miner.add("upstream 10.1.2.3:8080 timed out after 1500ms (attempt 1)");
//! let b = miner.add("upstream 10.1.2.4:8080 timed out after 30s (attempt 2)");
//! assert_eq!(a, b);
//! let cluster = miner.cluster(a).unwrap();
//! assert_eq!(cluster.template(), "upstream <*> timed out after <*> (attempt <*>)");
//! assert_eq!(cluster.example(), "upstream <IP> timed out after <DURATION> (attempt <NUM>)");
//! assert_eq!(cluster.count(), 2);
//!
//! // Restarting keeps the ids.
//! let restored = flexgate_logmine::Miner::load(&miner.save()).unwrap();
//! assert_eq!(restored.match_line("upstream 10.9.9.9:81 timed out after 2s (attempt 3)"), Some(a));
//! ```

pub mod csv;
mod error;
pub mod eval;
mod hash;
pub mod mask;
mod miner;
mod persist;

pub use error::Error;
pub use mask::Placeholder;
pub use miner::{Cluster, ClusterId, Miner, MinerConfig};
