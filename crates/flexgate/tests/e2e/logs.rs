//! `flexgate logs cluster`: the Loghub HDFS sample comes out as one row per line with its
//! cluster and template.

use std::collections::HashSet;

use crate::support::{run, workspace_root};

#[test]
fn cluster_writes_one_row_per_loghub_line() {
    let input = workspace_root().join("../shared/data/loghub-2k/HDFS/HDFS_2k.log_structured.csv");
    assert!(
        input.exists(),
        "Loghub sample missing: {} not found. The test needs the Loghub 2k samples in \
         shared/data/loghub-2k next to the repository (see docs/logmine.md).",
        input.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.csv");
    let out = run(&[
        "logs",
        "cluster",
        "--input",
        input.to_str().unwrap(),
        "--format",
        "loghub",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&output).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("LineId,ClusterId,Template"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.splitn(3, ',').collect()).collect();
    assert_eq!(rows.len(), 2000);
    let mut clusters = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 3, "{row:?}");
        assert_eq!(row[0], (i + 1).to_string(), "LineIds are kept in order");
        assert_eq!(row[1].len(), 16, "{row:?}");
        assert!(row[1].chars().all(|c| c.is_ascii_hexdigit()), "{row:?}");
        assert!(!row[2].is_empty(), "{row:?}");
        clusters.insert(row[1]);
    }
    // The sample has 14 events, and the miner finds exactly those.
    assert_eq!(clusters.len(), 14);
    assert!(
        rows.iter()
            .any(|r| r[2] == "PacketResponder <*> for block <*> terminating"),
        "{text:.400}"
    );
}

#[test]
fn cluster_numbers_plain_lines_from_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.log");
    std::fs::write(
        &input,
        "GET /items/1 took 12ms\nGET /items/22 took 30ms\nupstream 10.0.0.1:80 refused, retrying\n",
    )
    .unwrap();
    let out = run(&["logs", "cluster", "--input", input.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{stdout}");
    assert!(rows[1].starts_with("1,") && rows[1].ends_with(",GET <*> took <*>"));
    assert_eq!(rows[1].split(',').nth(1), rows[2].split(',').nth(1));
    // A template with a comma is quoted.
    assert!(
        rows[3].ends_with(",\"upstream <*> refused, retrying\""),
        "{stdout}"
    );
}
