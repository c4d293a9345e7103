//! Saving and restoring a miner, so that cluster ids survive a restart.
//!
//! The snapshot is JSON: the config, the line counter, every cluster (id, template tokens in the
//! internal encoding, masked example, counts, recency) and the merge aliases. Template tokens
//! carry placeholders as control characters, which JSON escapes (`\u0010`); they are kept in
//! that form rather than as `<NUM>` text so that a literal `<NUM>` in a log line can never be
//! confused with a placeholder after a reload. Loading rebuilds the indexes, so a reloaded
//! miner maps the same lines to the same ids as the one that was saved.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::mask::{is_marker, Placeholder};
use crate::miner::{Cluster, ClusterId, Miner, MinerConfig};

/// Identifies the snapshot format; bumped on incompatible changes.
const FORMAT: &str = "flexgate-logmine/1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    format: String,
    config: MinerConfig,
    lines: u64,
    clusters: Vec<SavedCluster>,
    #[serde(default)]
    aliases: Vec<(ClusterId, ClusterId)>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavedCluster {
    id: ClusterId,
    tokens: Vec<String>,
    example: String,
    count: u64,
    created: u64,
    last_seen: u64,
}

impl Miner {
    /// Serialises the miner (JSON). [`Miner::load`] restores it.
    pub fn save(&self) -> Vec<u8> {
        let (lines, clusters, aliases) = self.parts();
        let snapshot = Snapshot {
            format: FORMAT.to_owned(),
            config: self.config.clone(),
            lines,
            clusters: clusters
                .into_iter()
                .map(|c| SavedCluster {
                    id: c.id,
                    tokens: c
                        .tokens
                        .iter()
                        .map(|t| String::from_utf8_lossy(t).into_owned())
                        .collect(),
                    example: c.example.clone(),
                    count: c.count,
                    created: c.created,
                    last_seen: c.last_seen,
                })
                .collect(),
            aliases,
        };
        // Only maps with non-string keys or failing `Serialize` impls make serde_json fail;
        // the snapshot has neither.
        serde_json::to_vec(&snapshot).expect("a snapshot always serialises")
    }

    /// Restores a miner saved with [`Miner::save`].
    pub fn load(bytes: &[u8]) -> Result<Miner, Error> {
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| Error::Snapshot(e.to_string()))?;
        if snapshot.format != FORMAT {
            return Err(Error::Snapshot(format!(
                "format {:?}, expected {FORMAT:?}",
                snapshot.format
            )));
        }
        let config = snapshot.config;
        if snapshot.clusters.len() > config.max_clusters.max(1) {
            return Err(Error::Snapshot(format!(
                "{} clusters, more than max_clusters {}",
                snapshot.clusters.len(),
                config.max_clusters
            )));
        }
        let mut clusters = Vec::with_capacity(snapshot.clusters.len());
        let mut seen = std::collections::HashSet::new();
        for c in snapshot.clusters {
            if !seen.insert(c.id) {
                return Err(Error::Snapshot(format!("duplicate cluster id {}", c.id)));
            }
            let tokens: Vec<Box<[u8]>> = c
                .tokens
                .into_iter()
                .map(|t| t.into_bytes().into_boxed_slice())
                .collect();
            let bad = tokens.iter().any(|t| {
                t.is_empty()
                    || t.iter().any(|&b| {
                        (is_marker(b) && Placeholder::from_marker(b).is_none())
                            || (b < 0x20 && !is_marker(b))
                            || b == b' '
                    })
            });
            if bad || tokens.len() > config.max_tokens.max(1) {
                return Err(Error::Snapshot(format!(
                    "cluster {} has invalid tokens",
                    c.id
                )));
            }
            clusters.push(Cluster {
                id: c.id,
                tokens,
                template: String::new(),
                typed_template: String::new(),
                example: c.example,
                count: c.count,
                created: c.created,
                last_seen: c.last_seen,
            });
        }
        let miner = Miner::from_parts(config, snapshot.lines, clusters, snapshot.aliases);
        debug_assert!(seen.iter().all(|id| miner.contains(*id)));
        Ok(miner)
    }
}
