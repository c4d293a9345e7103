//! Evaluation against labelled logs: Loghub's grouping accuracy and its structured CSV files.
//!
//! [Loghub](https://github.com/logpai/loghub) publishes, for each of several systems, 2 000
//! sampled lines with the event (template) each belongs to, as `X_2k.log_structured.csv` with
//! the columns `LineId`, …, `Content`, `EventId`, `EventTemplate`. Parsers are compared by
//! grouping accuracy: a line counts as parsed correctly when the cluster it was put in holds
//! exactly the lines of its true event, no more and no fewer.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::Path;

use crate::error::Error;
use crate::miner::{ClusterId, Miner, MinerConfig};

/// The eight Loghub datasets used in the benchmark of Zhu et al. ("Tools and Benchmarks for
/// Automated Log Parsing", ICSE-SEIP 2019) with the grouping accuracy Drain reached there.
pub const DRAIN_GROUPING_ACCURACY: [(&str, f64); 8] = [
    ("HDFS", 0.998),
    ("Hadoop", 0.948),
    ("Spark", 0.920),
    ("Zookeeper", 0.967),
    ("BGL", 0.963),
    ("HPC", 0.887),
    ("Thunderbird", 0.955),
    ("Windows", 0.997),
];

/// One line of a Loghub structured CSV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoghubRecord {
    /// The `LineId` column.
    pub line_id: String,
    /// The `Content` column: the message without the header fields.
    pub content: String,
    /// The `EventId` column (empty if the file has none).
    pub event_id: String,
    /// The `EventTemplate` column (empty if the file has none).
    pub event_template: String,
}

/// Parses a Loghub structured CSV. `LineId` and `Content` are required; `EventId` and
/// `EventTemplate` are read when present.
pub fn parse_loghub(text: &str) -> Result<Vec<LoghubRecord>, Error> {
    let mut rows = crate::csv::parse(text)?.into_iter();
    let header = rows.next().ok_or_else(|| Error::Csv {
        line: 0,
        message: "empty file".into(),
    })?;
    let column = |name: &str| header.iter().position(|h| h.trim() == name);
    let missing = |name: &str| Error::Csv {
        line: 1,
        message: format!("no {name} column (a Loghub structured CSV has LineId and Content)"),
    };
    let line_id = column("LineId").ok_or_else(|| missing("LineId"))?;
    let content = column("Content").ok_or_else(|| missing("Content"))?;
    let event_id = column("EventId");
    let event_template = column("EventTemplate");
    let width = header.len();
    rows.enumerate()
        .map(|(n, mut row)| {
            if row.len() != width {
                return Err(Error::Csv {
                    line: n + 2,
                    message: format!("{} fields, the header has {width}", row.len()),
                });
            }
            let mut take =
                |i: Option<usize>| i.map(|i| std::mem::take(&mut row[i])).unwrap_or_default();
            Ok(LoghubRecord {
                line_id: take(Some(line_id)),
                content: take(Some(content)),
                event_id: take(event_id),
                event_template: take(event_template),
            })
        })
        .collect()
}

/// Reads and parses a Loghub structured CSV file.
pub fn read_loghub(path: &Path) -> Result<Vec<LoghubRecord>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_loghub(&text)
}

/// Loghub's grouping accuracy: the share of lines whose predicted cluster contains exactly the
/// lines of their true group.
///
/// `predicted[i]` and `truth[i]` are line `i`'s cluster and true event; any equality-comparable
/// labels work (cluster ids, event id strings).
///
/// # Panics
///
/// If the slices differ in length.
pub fn grouping_accuracy<P: Eq + Hash, T: Eq + Hash>(predicted: &[P], truth: &[T]) -> f64 {
    assert_eq!(
        predicted.len(),
        truth.len(),
        "one prediction per labelled line"
    );
    if truth.is_empty() {
        return 1.0;
    }
    let mut truth_sizes: HashMap<&T, usize> = HashMap::new();
    for t in truth {
        *truth_sizes.entry(t).or_default() += 1;
    }
    // For each predicted cluster: its size and the single true label of its lines, or `None`
    // once two labels are seen.
    let mut clusters: HashMap<&P, (usize, Option<&T>)> = HashMap::new();
    for (p, t) in predicted.iter().zip(truth) {
        let entry = clusters.entry(p).or_insert((0, Some(t)));
        entry.0 += 1;
        if entry.1 != Some(t) {
            entry.1 = None;
        }
    }
    let correct: usize = clusters
        .values()
        .filter_map(|&(size, label)| {
            let label = label?;
            (truth_sizes[label] == size).then_some(size)
        })
        .sum();
    correct as f64 / truth.len() as f64
}

/// The outcome of clustering one labelled dataset.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Grouping accuracy.
    pub accuracy: f64,
    /// Lines clustered.
    pub lines: usize,
    /// Clusters at the end.
    pub clusters: usize,
    /// True events.
    pub events: usize,
    /// The final cluster of each line (after merges).
    pub predicted: Vec<ClusterId>,
}

/// Clusters every record's content with a fresh miner and scores the result against the
/// records' events. Lines are assigned their cluster as it stands at the end (a cluster merged
/// into another counts as the survivor), which is how offline parsers are scored as well.
pub fn evaluate(records: &[LoghubRecord], config: &MinerConfig) -> Evaluation {
    let mut miner = Miner::new(config.clone());
    let ids: Vec<ClusterId> = records.iter().map(|r| miner.add(&r.content)).collect();
    let predicted: Vec<ClusterId> = ids
        .into_iter()
        .map(|id| miner.resolve(id).unwrap_or(id))
        .collect();
    let truth: Vec<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
    let mut events: Vec<&str> = truth.clone();
    events.sort_unstable();
    events.dedup();
    Evaluation {
        accuracy: grouping_accuracy(&predicted, &truth),
        lines: records.len(),
        clusters: miner.len(),
        events: events.len(),
        predicted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_counts_exact_groups_only() {
        let truth = ["a", "a", "b", "b", "c"];
        // a split in two, b exact, c exact
        assert!((grouping_accuracy(&[1, 2, 3, 3, 4], &truth) - 0.6).abs() < 1e-9);
        // b and c merged: only the a lines are right
        assert!((grouping_accuracy(&[1, 1, 3, 3, 3], &truth) - 0.4).abs() < 1e-9);
        assert_eq!(grouping_accuracy(&[7, 7, 8, 8, 9], &truth), 1.0);
    }

    #[test]
    fn reads_loghub_csv() {
        let text = "LineId,Date,Content,EventId,EventTemplate\n1,x,\"a, b\",E1,\"a, <*>\"\n";
        let r = parse_loghub(text).unwrap();
        assert_eq!(r[0].content, "a, b");
        assert_eq!(r[0].event_template, "a, <*>");
        assert!(parse_loghub("LineId,Text\n1,x\n").is_err());
    }
}
