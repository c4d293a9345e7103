//! The masking rules, one example each.

use flexgate_logmine::mask::mask;

#[track_caller]
fn check(input: &str, expected: &str) {
    assert_eq!(mask(input), expected, "masking {input:?}");
}

#[test]
fn numbers_and_quantities() {
    check("retry 3 of -5 at 3.14", "retry <NUM> of <NUM> at <NUM>");
    check("took 12ms then 3.5s", "took <DURATION> then <DURATION>");
    check("took 250 ms total", "took <DURATION> total");
    check("size 384.0 B, free 2.1 KB)", "size <SIZE>, free <SIZE>)");
    check("wrote 2703 bytes", "wrote <SIZE>");
    check("HWID=1973 count:17 50%", "HWID=<NUM> count:<NUM> <NUM>%");
}

#[test]
fn hex_uuid_and_ids() {
    check("at 0x7fed806eb5d and 31bf3856ad364e35", "at <HEX> and <ID>");
    check("magic deadbeefcafe", "magic <HEX>");
    check(
        "id bf1a281b-ad7b-4476-ac95-f47682990ce7 done",
        "id <UUID> done",
    );
    check(
        "attempt_1445144423722_0020_m_000001_0 KB2552343 v6.1.7601",
        "<ID> <ID> <ID>",
    );
    check("at 2016/9/27:20:30:31.455", "at <ID>");
}

#[test]
fn block_ids() {
    check(
        "delete blk_-6952295868487656571 and blk_38865049064139660",
        "delete <ID> and <ID>",
    );
}

#[test]
fn addresses() {
    check(
        "from /10.250.19.102:50010 to 10.0.0.1",
        "from /<IP> to <IP>",
    );
    check(
        "peer [fe80::1]:443 and 2001:db8:0:0:0:0:2:1",
        "peer [<IP>]:<NUM> and <IP>",
    );
    // A time is not an IPv6 address.
    check("at 12:01:01", "at <ID>");
    check("mail ops.team@example.com now", "mail <EMAIL> now");
    check(
        "GET https://api.example.com/v1/users?id=42 done",
        "GET <URL> done",
    );
}

#[test]
fn paths() {
    check(
        "open /var/log/app.log ./run.sh ~/x C:\\Windows\\x.dll \\\\srv\\share\\f GLOBALROOT/Device/x",
        "open <PATH> <PATH> <PATH> <PATH> <PATH> <PATH>",
    );
    // One slash is a name, not a path.
    check(
        "Resolved host to /default-rack",
        "Resolved host to /default-rack",
    );
    check(
        "ciod: LOGIN chdir(/home/a/b) failed",
        "ciod: LOGIN chdir(<PATH>) failed",
    );
}

#[test]
fn words_with_digits() {
    // Device-like names stay (the miner's cardinality rule decides whether they vary), other
    // words with digits are ids; keys before `=` stay.
    check("via eth0 sda1 alt0", "via eth0 sda1 alt0");
    check("host FNANLI5x node-246", "host <ID> node-<NUM>");
    check("r24=0x0ffea4c8", "r24=<HEX>");
}

#[test]
fn dates() {
    check(
        "Thu Aug 11 10:28:21 PDT 2005",
        "<DATE> <DATE> <NUM> <ID> PDT <NUM>",
    );
    check("May we continue", "May we continue");
}

#[test]
fn secrets_are_masked() {
    check(
        "login password=hunter secret: abc token=\"xyz\" api_key=K",
        "login password=<SECRET> secret: <SECRET> token=\"<SECRET>\" api_key=<SECRET>",
    );
    check(
        "Authorization: Bearer abc.def.ghi",
        "Authorization: Bearer <SECRET>",
    );
}

#[test]
fn whitespace_unicode_and_control_bytes() {
    check("  a\t b  ", "a b");
    check("héllo wörld é12", "héllo wörld é12");
    check("bell\u{7}here", "bell?here");
    // A control byte in the input never passes for a placeholder.
    check("x\u{10}y", "x?y");
}
