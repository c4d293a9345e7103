//! Behaviour of the miner: clustering rules, ids, merges, bounds and redaction.

use flexgate_logmine::{ClusterId, Miner, MinerConfig};

fn miner() -> Miner {
    Miner::new(MinerConfig::default())
}

#[test]
fn variables_share_a_cluster() {
    let mut m = miner();
    let a = m.add("Received block blk_1 of size 67108864 from /10.0.0.1");
    let b = m.add("Received block blk_-42 of size 3 from /10.0.0.2");
    assert_eq!(a, b);
    assert_eq!(
        m.template(a),
        Some("Received block <*> of size <*> from /<*>")
    );
    assert_eq!(m.cluster(a).unwrap().count(), 2);
}

#[test]
fn different_constant_words_are_different_events() {
    let mut m = miner();
    let a = m.add("task_1 Task Transitioned from RUNNING to SUCCEEDED");
    let b = m.add("task_2 Task Transitioned from RUNNING to FAILED");
    let c = m.add("via interface alt0 up");
    let d = m.add("via interface ee0 up");
    assert_ne!(a, b);
    assert_ne!(c, d);
    assert_eq!(m.len(), 4);
}

#[test]
fn soft_differences_generalise_and_keep_the_id() {
    let mut m = miner();
    let a = m.add("ciod: LOGIN chdir(/home/a/b) failed: No such file or directory");
    let b = m.add("ciod: LOGIN chdir(pwd) failed: No such file or directory");
    assert_eq!(a, b, "a generalised template keeps its id");
    assert_eq!(
        m.template(a),
        Some("ciod: LOGIN chdir(<*>) failed: No such file or directory")
    );
}

#[test]
fn repeated_lists_collapse() {
    let mut m = miner();
    let a = m.add("ask 10.0.0.1:50010 to delete blk_1");
    let b = m.add("ask 10.0.0.2:50010 to delete blk_1 blk_2 blk_3 blk_4");
    assert_eq!(a, b);
}

#[test]
fn a_word_that_takes_many_values_becomes_a_variable() {
    let mut m = miner();
    let services = ["chargen", "daytime", "echo", "time", "finger", "telnet"];
    let ids: Vec<ClusterId> = services
        .iter()
        .map(|s| m.add(&format!("removing {s}")))
        .collect();
    // The first four are separate clusters; the fifth value proves the position variable.
    assert_ne!(ids[0], ids[1]);
    let merged = ids[4];
    assert_eq!(ids[5], merged);
    assert_eq!(m.template(merged), Some("removing <*>"));
    assert_eq!(m.len(), 1);
    // Ids handed out before the merge resolve to the survivor, which is the oldest cluster.
    assert_eq!(merged, ids[0]);
    for id in &ids {
        assert_eq!(m.resolve(*id), Some(merged));
    }
    assert_eq!(m.cluster(merged).unwrap().count(), 6);
}

#[test]
fn the_first_word_never_becomes_a_variable_by_count() {
    let mut m = miner();
    for verb in ["boot", "halt", "wait", "reboot", "probe", "sync"] {
        m.add(&format!("{verb} (command 42)"));
    }
    assert_eq!(m.len(), 6);
}

#[test]
fn ids_are_deterministic_across_miners() {
    let lines = [
        "Connection from 10.0.0.1 closed",
        "user alice logged in",
        "Connection from 10.0.0.9 closed",
    ];
    let mut a = miner();
    let mut b = miner();
    let ia: Vec<ClusterId> = lines.iter().map(|l| a.add(l)).collect();
    let ib: Vec<ClusterId> = lines.iter().map(|l| b.add(l)).collect();
    assert_eq!(ia, ib);
    // The id is printed as 16 hex digits and parses back.
    let text = ia[0].to_string();
    assert_eq!(text.len(), 16);
    assert_eq!(text.parse::<ClusterId>().unwrap(), ia[0]);
}

#[test]
fn an_evicted_template_comes_back_with_the_same_id() {
    let mut m = Miner::new(MinerConfig {
        max_clusters: 2,
        ..MinerConfig::default()
    });
    let a = m.add("disk full on volume 7");
    m.add("alpha one two");
    m.add("beta three four");
    assert_eq!(m.resolve(a), None, "evicted");
    assert_eq!(m.add("disk full on volume 9"), a);
}

#[test]
fn clusters_are_capped_and_the_least_recently_seen_go_first() {
    let cap = 64;
    let mut m = Miner::new(MinerConfig {
        max_clusters: cap,
        ..MinerConfig::default()
    });
    let keep = m.add("heartbeat ok");
    for i in 0..10_000 {
        // Every line a new template: the word varies in the first position.
        m.add(&format!("w{}x event happened", word(i)));
        if i % 10 == 0 {
            assert_eq!(m.add("heartbeat ok"), keep);
        }
        assert!(m.len() <= cap);
    }
    assert!(m.cluster(keep).is_some(), "a recently seen cluster is kept");
}

/// A letters-only word for `i`, so that masking leaves it alone.
fn word(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            return s;
        }
    }
}

#[test]
fn long_lines_are_cut_to_the_token_cap() {
    let mut m = Miner::new(MinerConfig {
        max_tokens: 8,
        ..MinerConfig::default()
    });
    let line: Vec<String> = (0..1000).map(word).collect();
    let id = m.add(&line.join(" "));
    assert_eq!(m.template(id).unwrap().split(' ').count(), 8);
    // Lines that differ only after the cap are the same template.
    let mut other = line.clone();
    other[500] = "different".into();
    assert_eq!(m.add(&other.join(" ")), id);
}

#[test]
fn examples_are_masked_and_secrets_never_kept() {
    let mut m = miner();
    let id = m.add("login failed for bob password=hunter2x from 10.1.2.3");
    let c = m.cluster(id).unwrap();
    assert_eq!(
        c.example(),
        "login failed for bob password=<SECRET> from <IP>"
    );
    let snapshot = String::from_utf8(m.save()).unwrap();
    assert!(!snapshot.contains("hunter2x"));
    assert!(!snapshot.contains("10.1.2.3"));
}

#[test]
fn match_line_does_not_learn() {
    let mut m = miner();
    let id = m.add("cache miss for key 17");
    assert_eq!(m.match_line("cache miss for key 99"), Some(id));
    assert_eq!(m.match_line("something else entirely"), None);
    assert_eq!(m.len(), 1);
    assert_eq!(m.lines(), 1);
}

#[test]
fn empty_and_blank_lines_have_a_cluster() {
    let mut m = miner();
    let a = m.add("");
    let b = m.add("   \t ");
    assert_eq!(a, b);
    assert_eq!(m.template(a), Some(""));
}

#[test]
fn clusters_iterate_with_counts() {
    let mut m = miner();
    for i in 0..3 {
        m.add(&format!("GET /health {i}"));
    }
    m.add("server started");
    let mut counts: Vec<(String, u64)> = m
        .clusters()
        .map(|c| (c.template().to_owned(), c.count()))
        .collect();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("GET /health <*>".to_owned(), 3),
            ("server started".to_owned(), 1)
        ]
    );
}
