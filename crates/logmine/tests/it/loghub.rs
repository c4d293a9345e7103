//! Grouping accuracy on the eight Loghub 2k samples with the default configuration.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use flexgate_logmine::eval::{self, LoghubRecord, DRAIN_GROUPING_ACCURACY};
use flexgate_logmine::{ClusterId, Miner, MinerConfig};

/// The samples live next to the repository (they carry Loghub's licence and are not copied
/// into it); CI provides them at the same relative place.
pub fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/loghub-2k"
    ))
}

pub fn load(name: &str) -> Vec<LoghubRecord> {
    let path = data_dir()
        .join(name)
        .join(format!("{name}_2k.log_structured.csv"));
    assert!(
        path.exists(),
        "Loghub sample missing: {} not found. The tests need the Loghub 2k samples in \
         shared/data/loghub-2k next to the repository (see docs/logmine.md).",
        path.display()
    );
    eval::read_loghub(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Prints, for a dataset, every true event whose lines were not clustered exactly.
fn dump(name: &str, records: &[LoghubRecord]) {
    let mut miner = Miner::new(MinerConfig::default());
    let ids: Vec<ClusterId> = records.iter().map(|r| miner.add(&r.content)).collect();
    let ids: Vec<ClusterId> = ids.iter().map(|id| miner.resolve(*id).unwrap()).collect();
    let mut by_event: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut by_cluster: HashMap<ClusterId, Vec<usize>> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        by_event.entry(&r.event_id).or_default().push(i);
        by_cluster.entry(ids[i]).or_default().push(i);
    }
    println!("== {name}");
    for (event, lines) in &by_event {
        let clusters: Vec<ClusterId> = {
            let mut c: Vec<ClusterId> = lines.iter().map(|&i| ids[i]).collect();
            c.sort();
            c.dedup();
            c
        };
        let exact = clusters.len() == 1 && by_cluster[&clusters[0]].len() == lines.len();
        if exact {
            continue;
        }
        println!(
            "{event} ({} lines) {}",
            lines.len(),
            records[lines[0]].event_template
        );
        for c in clusters {
            let members = &by_cluster[&c];
            let mut others: Vec<&str> = members
                .iter()
                .map(|&i| records[i].event_id.as_str())
                .filter(|e| e != event)
                .collect();
            others.sort();
            others.dedup();
            let mine = members
                .iter()
                .filter(|&&i| records[i].event_id == *event)
                .count();
            println!(
                "    {mine}/{} in {} | also {:?}",
                members.len(),
                miner.template(c).unwrap(),
                others
            );
            if std::env::var_os("LOGMINE_DUMP_LINES").is_some() {
                for &i in members
                    .iter()
                    .filter(|&&i| records[i].event_id == *event)
                    .take(3)
                {
                    println!("        {}", records[i].content);
                }
            }
        }
    }
}

/// Floors just below the measured accuracy, so that a regression fails.
const FLOORS: [(&str, f64); 8] = [
    ("HDFS", 0.999),
    ("Hadoop", 0.993),
    ("Spark", 0.999),
    ("Zookeeper", 0.994),
    ("BGL", 0.999),
    ("HPC", 0.997),
    ("Thunderbird", 0.987),
    ("Windows", 0.999),
];

#[test]
fn grouping_accuracy_on_loghub() {
    let config = MinerConfig::default();
    let mut failures = Vec::new();
    let mut sum = 0.0;
    let mut drain_sum = 0.0;
    println!("| Dataset | Lines | Events | Clusters | GA | Drain GA | Floor |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for ((name, drain), (floor_name, floor)) in DRAIN_GROUPING_ACCURACY.iter().zip(FLOORS) {
        assert_eq!(*name, floor_name);
        let records = load(name);
        if std::env::var("LOGMINE_DUMP").is_ok_and(|v| v == *name || v == "all") {
            dump(name, &records);
        }
        let result = eval::evaluate(&records, &config);
        sum += result.accuracy;
        drain_sum += drain;
        println!(
            "| {name} | {} | {} | {} | {:.4} | {drain:.3} | {floor:.3} |",
            result.lines, result.events, result.clusters, result.accuracy
        );
        if result.accuracy < floor {
            failures.push(format!("{name}: {:.4} < floor {floor}", result.accuracy));
        }
    }
    println!(
        "| Average | | | | {:.4} | {:.3} | |",
        sum / 8.0,
        drain_sum / 8.0
    );
    assert!(failures.is_empty(), "accuracy regressed: {failures:?}");
}
