//! Preprocessing: splits a line into whitespace tokens and replaces the variable parts with
//! typed placeholders.
//!
//! Masking does most of the work of template mining: once numbers, addresses, ids and paths are
//! gone, most lines of one event are byte-for-byte identical and the clustering only has to deal
//! with what is left. The rules are deliberately generic (no rule names a product or a log
//! format) because the miner meets logs nobody tuned it for. In order of precedence, at every
//! position where a new word starts (the previous byte is not a letter or digit):
//!
//! | Rule | Example | Placeholder |
//! |---|---|---|
//! | URL (`scheme://…`) | `hdfs://nn:9000/a/b` | `<URL>` |
//! | hexadecimal with `0x` | `0x7fed806eb5d` | `<HEX>` |
//! | UUID | `bf1a281b-ad7b-4476-ac95-f47682990ce7` | `<UUID>` |
//! | IPv4, optional port | `10.250.19.102:50010` | `<IP>` |
//! | IPv6 (with `::` or eight groups) | `fe80::1` | `<IP>` |
//! | e-mail address | `ops@example.com` | `<EMAIL>` |
//! | path: absolute with two `/`, `./`, `~/`, drive, UNC, or a name with two separators | `/var/log/x.log`, `C:\Windows\x.dll` | `<PATH>` |
//! | value of a secret-looking key, credential after `Bearer`/`Basic` | `password=hunter2`, `Bearer abc` | `<SECRET>` |
//! | number with a time unit, attached or as the next word | `12ms`, `3.5 s` | `<DURATION>` |
//! | number with a size unit, attached or as the next word | `2.1KB`, `384.0 B` | `<SIZE>` |
//! | number, signed or decimal | `-42`, `3.14` | `<NUM>` |
//! | anything else starting with a digit: ids, times, versions | `2016/9/27:20:30:31.455`, `v6.1.7601` | `<ID>` |
//! | a word (letters, digits, `_`) with digits, except a key before `=` and a name of two or more letters with one trailing digit (`eth0`, `sda1`) | `blk_-42`, `attempt_1445_0020_m_000001_0`, `KB2552343` | `<ID>` |
//! | twelve or more hex letters | `deadbeefcafe` | `<HEX>` |
//! | weekday or month name before a number | `Thu Aug 11` | `<DATE>` |
//!
//! Word boundaries make the rules compose: a rule only starts where the previous byte is not a
//! letter or digit, so `node-246` becomes `node-<NUM>`, `HWID=1973` becomes `HWID=<NUM>` and
//! `/10.0.0.1:80` becomes `/<IP>`, while `eth0` is left alone.
//!
//! After masking, a group of one to three tokens that repeats back to back and contains a
//! placeholder or a digit is kept once, any placeholder matching any other and any digit any
//! other (`delete <ID> <ID> <ID>`, `name dadmin2 dadmin3` and `( <NUM> <HEX> <NUM> )` have one
//! shape whatever the length of the list), and a token longer than [`MAX_TOKEN_BYTES`] becomes
//! `<ID>` (a blob, and a bound on memory).
//!
//! Internally a placeholder is a single control byte (`0x10..=0x1f`), which cannot occur in the
//! masked text because control bytes in the input are replaced by `?`. Templates are printed
//! either with the typed names above or, as Loghub does, with `<*>` for every variable.

/// A masked token longer than this is replaced by `<ID>`: such tokens are blobs (base64,
/// serialized objects), and the cap bounds the memory of a template.
pub const MAX_TOKEN_BYTES: usize = 128;

/// The kind of a masked variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Placeholder {
    /// A number: `42`, `-7`, `3.14`.
    Num,
    /// A hexadecimal number: `0x1f`, or twelve or more hex letters.
    Hex,
    /// Anything else starting with a digit, or a word with digits: ids, timestamps, versions.
    Id,
    /// An IPv4 or IPv6 address, with its port if it has one.
    Ip,
    /// A UUID.
    Uuid,
    /// A file system path.
    Path,
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// A number with a time unit.
    Duration,
    /// A number with a size unit.
    Size,
    /// A weekday or month name used in a date.
    Date,
    /// The value of a key that looks like it holds a secret.
    Secret,
    /// A template position that took different values (only in templates, never in a line).
    Any,
}

const ALL: [Placeholder; 13] = [
    Placeholder::Num,
    Placeholder::Hex,
    Placeholder::Id,
    Placeholder::Ip,
    Placeholder::Uuid,
    Placeholder::Path,
    Placeholder::Url,
    Placeholder::Email,
    Placeholder::Duration,
    Placeholder::Size,
    Placeholder::Date,
    Placeholder::Secret,
    Placeholder::Any,
];

/// The internal byte of [`Placeholder::Any`].
pub(crate) const WILD: u8 = 0x1f;

impl Placeholder {
    /// The internal marker byte.
    pub(crate) const fn marker(self) -> u8 {
        match self {
            Placeholder::Num => 0x10,
            Placeholder::Hex => 0x11,
            Placeholder::Id => 0x12,
            Placeholder::Ip => 0x13,
            Placeholder::Uuid => 0x14,
            Placeholder::Path => 0x15,
            Placeholder::Url => 0x16,
            Placeholder::Email => 0x17,
            Placeholder::Duration => 0x18,
            Placeholder::Size => 0x19,
            Placeholder::Date => 0x1a,
            Placeholder::Secret => 0x1b,
            Placeholder::Any => WILD,
        }
    }

    /// The placeholder of a marker byte.
    pub(crate) fn from_marker(byte: u8) -> Option<Self> {
        ALL.iter().copied().find(|p| p.marker() == byte)
    }

    /// The typed name, e.g. `<NUM>`; [`Placeholder::Any`] is `<*>`.
    pub const fn name(self) -> &'static str {
        match self {
            Placeholder::Num => "<NUM>",
            Placeholder::Hex => "<HEX>",
            Placeholder::Id => "<ID>",
            Placeholder::Ip => "<IP>",
            Placeholder::Uuid => "<UUID>",
            Placeholder::Path => "<PATH>",
            Placeholder::Url => "<URL>",
            Placeholder::Email => "<EMAIL>",
            Placeholder::Duration => "<DURATION>",
            Placeholder::Size => "<SIZE>",
            Placeholder::Date => "<DATE>",
            Placeholder::Secret => "<SECRET>",
            Placeholder::Any => "<*>",
        }
    }
}

/// True for the internal placeholder bytes.
#[inline]
pub(crate) fn is_marker(byte: u8) -> bool {
    (0x10..=0x1f).contains(&byte)
}

/// True if the bytes contain a placeholder.
#[inline]
pub(crate) fn has_marker(bytes: &[u8]) -> bool {
    bytes.iter().any(|&b| is_marker(b))
}

/// A masked line: the masked tokens, each followed by a space, in `buf`, and the tokens that
/// take part in matching (after collapsing repeats and the token cap) as spans of `buf`.
#[derive(Debug, Default, Clone)]
pub(crate) struct MaskedLine {
    pub(crate) buf: Vec<u8>,
    pub(crate) spans: Vec<(u32, u32)>,
}

impl MaskedLine {
    /// Number of tokens.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// Token `i`.
    #[inline]
    pub(crate) fn token(&self, i: usize) -> &[u8] {
        let (s, e) = self.spans[i];
        &self.buf[s as usize..e as usize]
    }

    /// Every masked token, including repeats that were collapsed, separated by spaces.
    pub(crate) fn full(&self) -> &[u8] {
        match self.buf.last() {
            Some(b' ') => &self.buf[..self.buf.len() - 1],
            _ => &self.buf,
        }
    }
}

/// Masks `line` and renders it with typed placeholders, whitespace normalised to single spaces.
///
/// This is the redaction applied to the examples a [`Miner`](crate::Miner) keeps.
///
/// ```
/// assert_eq!(
///     flexgate_logmine::mask::mask("Received block blk_-42 of size 67108864 from /10.0.0.1"),
///     "Received block <ID> of size <NUM> from /<IP>",
/// );
/// ```
pub fn mask(line: &str) -> String {
    let mut out = MaskedLine::default();
    mask_into(line, usize::MAX, &mut out);
    render(out.full(), true)
}

/// Renders internal bytes: placeholders become their typed names, or `<*>` if `typed` is false.
pub(crate) fn render(bytes: &[u8], typed: bool) -> String {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for &b in bytes {
        if !is_marker(b) {
            out.push(b);
            continue;
        }
        match Placeholder::from_marker(b) {
            Some(p) if typed => out.extend_from_slice(p.name().as_bytes()),
            _ => out.extend_from_slice(b"<*>"),
        }
    }
    // The bytes come from a `&str` with ASCII-only replacements and are cut only at character
    // boundaries, so this never replaces anything.
    String::from_utf8_lossy(&out).into_owned()
}

/// Byte classes, looked up once per byte in the hot loops.
const SPACE: u8 = 1;
const WORD: u8 = 2;
/// Bytes that continue a name, host, e-mail local part or path component.
const NAME: u8 = 4;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        if b == b' ' || (b >= b'\t' && b <= b'\r') {
            t[i] = SPACE;
        } else if b.is_ascii_alphanumeric() || b >= 0x80 {
            t[i] = WORD | NAME;
        } else if matches!(b, b'.' | b'_' | b'-' | b'+' | b'%' | b'~' | b'$') {
            t[i] = NAME;
        }
        i += 1;
    }
    t
};

#[inline]
fn is_space(b: u8) -> bool {
    CLASSES[b as usize] & SPACE != 0
}

/// Letters, digits and any byte of a non-ASCII character: the bytes that continue a word.
#[inline]
fn is_word(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

#[inline]
fn is_hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// Masks `line` into `out`, considering at most `max_tokens` tokens.
pub(crate) fn mask_into(line: &str, max_tokens: usize, out: &mut MaskedLine) {
    out.buf.clear();
    out.spans.clear();
    let b = line.as_bytes();
    let mut i = 0;
    // Set when the previous token announced a credential: `Bearer`, `Basic`, `password:`.
    let mut secret_next = false;
    while i < b.len() {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() || out.spans.len() >= max_tokens {
            break;
        }
        let start = out.buf.len();
        if secret_next && !is_auth_scheme(&b[i..token_end(b, i)]) {
            // The credential is the whole next token.
            secret_next = false;
            i = token_end(b, i);
            out.buf.push(Placeholder::Secret.marker());
            out.spans.push((start as u32, out.buf.len() as u32));
            out.buf.push(b' ');
            continue;
        }
        let raw_start = i;
        i = mask_token(b, i, &mut out.buf);
        secret_next = announces_secret(&b[raw_start..i]);
        // A bare number followed by a unit word is one quantity: `384.0 B,` and `2.1 KB,` must
        // give the same token.
        if out.buf.len() == start + 1 && out.buf[start] == Placeholder::Num.marker() {
            if let Some((kind, rest, end)) = unit_after(b, i) {
                out.buf[start] = kind.marker();
                out.buf.extend_from_slice(&b[rest..end]);
                i = end;
            }
        }
        if out.buf.len() - start > MAX_TOKEN_BYTES {
            out.buf.truncate(start);
            out.buf.push(Placeholder::Id.marker());
        }
        out.spans.push((start as u32, out.buf.len() as u32));
        out.buf.push(b' ');
    }
    collapse_repeats(out);
}

/// True for `Bearer`, `Basic`, and a secret-looking key with `:` or `=` and no value
/// (`password:`): the next token is the secret.
fn announces_secret(raw: &[u8]) -> bool {
    if is_auth_scheme(raw) {
        return true;
    }
    match raw.split_last() {
        Some((b':' | b'=', key)) => is_secret_key(key),
        _ => false,
    }
}

/// `Bearer` or `Basic`, the HTTP authentication schemes whose credential follows.
fn is_auth_scheme(raw: &[u8]) -> bool {
    raw.eq_ignore_ascii_case(b"bearer") || raw.eq_ignore_ascii_case(b"basic")
}

/// The end of the token starting at `i`.
fn token_end(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && !is_space(b[i]) {
        i += 1;
    }
    i
}

/// Masks one whitespace-delimited token starting at `start`; returns the index after it.
fn mask_token(b: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let end = token_end(b, start);
    let mut i = start;
    while i < end {
        let c = b[i];
        // Rules apply where a word starts; inside a word nothing can start, so a word no rule
        // claimed is copied whole.
        if i == start || !is_word(b[i - 1]) {
            if let Some((copy_to, kind, next)) = recognize(b, end, i) {
                out.extend_from_slice(&b[i..copy_to]);
                out.push(kind.marker());
                i = next;
                continue;
            }
            if is_word(c) {
                let mut e = i + 1;
                while e < end && is_word(b[e]) {
                    e += 1;
                }
                out.extend_from_slice(&b[i..e]);
                i = e;
                continue;
            }
        }
        // Control bytes would be mistaken for placeholders.
        out.push(if c < 0x20 || c == 0x7f { b'?' } else { c });
        i += 1;
    }
    end
}

/// Tries every rule at a word start `i` of the token that ends at `end` in `line`.
/// Returns `(copy_to, kind, next)`: copy `line[i..copy_to]` verbatim, then the placeholder, and
/// continue at `next`.
fn recognize(line: &[u8], end: usize, i: usize) -> Option<(usize, Placeholder, usize)> {
    // The rules look only inside the token, except the date rule, which peeks at the next one.
    let t = &line[..end];
    let c = t[i];
    let at = |k: usize| t.get(k).copied().unwrap_or(b' ');
    // One scan over the bytes that can continue a name, host, e-mail local part or path
    // component; the byte after them decides which of the costlier rules can apply at all.
    let mut stop = i;
    while stop < t.len() && CLASSES[t[stop] as usize] & NAME != 0 {
        stop += 1;
    }
    let after = at(stop);
    if c.is_ascii_alphabetic() && after == b':' && t[stop..].starts_with(b"://") {
        if let Some(e) = url(t, i) {
            return Some((i, Placeholder::Url, e));
        }
    }
    if c == b'0' && (at(i + 1) == b'x' || at(i + 1) == b'X') && is_hex(at(i + 2)) {
        let mut e = i + 2;
        while e < t.len() && is_hex(t[e]) {
            e += 1;
        }
        return Some((i, Placeholder::Hex, e));
    }
    if is_hex(c) && at(i + 8) == b'-' {
        if let Some(e) = uuid(t, i) {
            return Some((i, Placeholder::Uuid, e));
        }
    }
    if c.is_ascii_digit() && t[i..stop].contains(&b'.') {
        if let Some(e) = ipv4(t, i) {
            return Some((i, Placeholder::Ip, e));
        }
    }
    if (is_hex(c) || c == b':') && after == b':' {
        if let Some(e) = ipv6(t, i) {
            return Some((i, Placeholder::Ip, e));
        }
    }
    if c.is_ascii_alphanumeric() && after == b'@' {
        if let Some(e) = email(t, i) {
            return Some((i, Placeholder::Email, e));
        }
    }
    if matches!(c, b'/' | b'.' | b'~' | b'\\')
        || (c.is_ascii_alphabetic() && after == b':')
        || (c.is_ascii_alphabetic() && (after == b'/' || after == b'\\'))
    {
        if let Some(e) = path(t, i) {
            return Some((i, Placeholder::Path, e));
        }
    }
    if c.is_ascii_alphabetic() && (after == b'=' || after == b':') {
        if let Some(found) = secret(t, i, stop) {
            return Some(found);
        }
    }
    let signed = (c == b'-' || c == b'+') && at(i + 1).is_ascii_digit();
    let version = (c == b'v' || c == b'V') && at(i + 1).is_ascii_digit() && at(i + 2) == b'.';
    if c.is_ascii_digit() || signed || version {
        let (e, kind) = number(t, i);
        return Some((i, kind, e));
    }
    if c.is_ascii_alphabetic() {
        return word(line, end, i);
    }
    None
}

/// `scheme://rest`, up to whitespace or a closing quote or bracket.
fn url(t: &[u8], i: usize) -> Option<usize> {
    let mut k = i + 1;
    while k < t.len() && k - i <= 16 && (t[k].is_ascii_alphanumeric() || b"+.-".contains(&t[k])) {
        k += 1;
    }
    if !t[k..].starts_with(b"://") {
        return None;
    }
    let mut e = k + 3;
    while e < t.len() && !b"\"'<>)]}".contains(&t[e]) {
        e += 1;
    }
    Some(trim_trailing(t, k + 3, e))
}

/// Drops sentence punctuation that follows a URL or path.
fn trim_trailing(t: &[u8], min: usize, mut e: usize) -> usize {
    while e > min && b".,:;!?".contains(&t[e - 1]) {
        e -= 1;
    }
    e
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
fn uuid(t: &[u8], i: usize) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut k = i;
    for (n, len) in GROUPS.iter().enumerate() {
        if n > 0 {
            if t.get(k) != Some(&b'-') {
                return None;
            }
            k += 1;
        }
        for _ in 0..*len {
            if !is_hex(*t.get(k)?) {
                return None;
            }
            k += 1;
        }
    }
    (k == t.len() || !is_word(t[k])).then_some(k)
}

/// Four dotted decimal octets, optionally `:port`.
fn ipv4(t: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    for n in 0..4 {
        if n > 0 {
            if t.get(k) != Some(&b'.') {
                return None;
            }
            k += 1;
        }
        let s = k;
        while k < t.len() && t[k].is_ascii_digit() && k - s < 4 {
            k += 1;
        }
        if k == s || k - s > 3 {
            return None;
        }
    }
    // Not part of a longer dotted number such as a version `1.2.3.4.5`.
    if k < t.len()
        && (is_word(t[k]) || (t[k] == b'.' && t.get(k + 1).is_some_and(u8::is_ascii_digit)))
    {
        return None;
    }
    if t.get(k) == Some(&b':') && t.get(k + 1).is_some_and(u8::is_ascii_digit) {
        let mut p = k + 1;
        while p < t.len() && t[p].is_ascii_digit() {
            p += 1;
        }
        if p == t.len() || !is_word(t[p]) {
            k = p;
        }
    }
    Some(k)
}

/// Colon-separated hex groups of at most four digits, with `::` or all eight groups.
fn ipv6(t: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    let mut colons = 0;
    let mut group = 0;
    let mut double = false;
    let mut digits = false;
    while k < t.len() {
        let c = t[k];
        if c == b':' {
            if k > i && t[k - 1] == b':' {
                if double {
                    return None;
                }
                double = true;
            }
            colons += 1;
            group = 0;
        } else if is_hex(c) {
            group += 1;
            digits = true;
            if group > 4 {
                return None;
            }
        } else {
            break;
        }
        k += 1;
    }
    // A trailing single colon is punctuation (`addr:`), not part of the address.
    if k > i && t[k - 1] == b':' && !(k >= i + 2 && t[k - 2] == b':') {
        k -= 1;
        colons -= 1;
    }
    if !digits || colons < 2 || !(double || colons == 7) {
        return None;
    }
    if k < t.len() && is_word(t[k]) {
        return None;
    }
    Some(k)
}

/// `local@domain.tld`.
fn email(t: &[u8], i: usize) -> Option<usize> {
    let mut k = i;
    while k < t.len() && (t[k].is_ascii_alphanumeric() || b"._%+-".contains(&t[k])) {
        k += 1;
    }
    if t.get(k) != Some(&b'@') || k == i {
        return None;
    }
    let d = k + 1;
    let mut e = d;
    let mut last_label = d;
    let mut dots = 0;
    while e < t.len() && (t[e].is_ascii_alphanumeric() || t[e] == b'-' || t[e] == b'.') {
        if t[e] == b'.' {
            if e + 1 >= t.len() || !t[e + 1].is_ascii_alphanumeric() {
                break;
            }
            dots += 1;
            last_label = e + 1;
        }
        e += 1;
    }
    let tld = &t[last_label..e];
    (dots >= 1 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(e)
}

/// File system paths.
fn path(t: &[u8], i: usize) -> Option<usize> {
    let c = t[i];
    let at = |k: usize| t.get(k).copied().unwrap_or(b' ');
    // Where the path proper starts and how many separators it needs: an absolute path needs
    // two (`/tmp` alone is too often a name, e.g. `/default-rack`), an explicit relative or
    // home or drive or UNC prefix needs none more.
    let (body, needed) = if c == b'/' {
        (i, 2)
    } else if c == b'.' && at(i + 1) == b'/' {
        (i + 1, 1)
    } else if c == b'.' && at(i + 1) == b'.' && at(i + 2) == b'/' {
        (i + 2, 1)
    } else if c == b'~' && at(i + 1) == b'/' {
        (i + 1, 1)
    } else if c.is_ascii_alphabetic()
        && at(i + 1) == b':'
        && (at(i + 2) == b'\\' || at(i + 2) == b'/')
    {
        (i + 2, 1)
    } else if c == b'\\' && at(i + 1) == b'\\' {
        (i, 2)
    } else if c.is_ascii_alphabetic() {
        // A relative path such as `GLOBALROOT/Device/x` (not `2016/9/27`, a date): a name, then at least two separators
        // before any `:`, `=` or `@` (which would make it something else, e.g. `jar:file:/x`).
        let mut k = i;
        let mut seps = 0;
        while k < t.len() {
            let b = t[k];
            if b == b'/' || b == b'\\' {
                seps += 1;
            } else if !(is_word(b) || b"._-+~$".contains(&b)) {
                break;
            }
            k += 1;
        }
        if seps < 2 || t[i..k].iter().filter(|b| b.is_ascii_alphanumeric()).count() < 3 {
            return None;
        }
        return Some(trim_trailing(t, i + 1, k));
    } else {
        return None;
    };
    let mut k = body;
    let mut seps = 0;
    while k < t.len() && !b"\"'`,;()[]{}<>|=".contains(&t[k]) {
        if t[k] == b'/' || t[k] == b'\\' {
            seps += 1;
        }
        k += 1;
    }
    let e = trim_trailing(t, body + 1, k);
    let named = t[body..e].iter().any(u8::is_ascii_alphanumeric);
    (seps >= needed && named).then_some(e)
}

/// Keys whose values are never kept, matched as lowercase substrings of the key.
const SECRET_KEYS: [&[u8]; 11] = [
    b"password",
    b"passwd",
    b"pwd",
    b"secret",
    b"token",
    b"apikey",
    b"api_key",
    b"api-key",
    b"credential",
    b"cookie",
    b"authorization",
];

/// True if a key name contains one of [`SECRET_KEYS`], ignoring case.
fn is_secret_key(key: &[u8]) -> bool {
    SECRET_KEYS
        .iter()
        .any(|s| key.len() >= s.len() && key.windows(s.len()).any(|w| w.eq_ignore_ascii_case(s)))
}

/// `key=value` or `key:value` with a secret-looking key (the name ends at `stop`). Returns the
/// key, separator and any opening quote to copy, then the placeholder for the value.
fn secret(t: &[u8], i: usize, stop: usize) -> Option<(usize, Placeholder, usize)> {
    if !is_secret_key(&t[i..stop]) {
        return None;
    }
    let mut value_start = stop + 1;
    let quote = t
        .get(value_start)
        .copied()
        .filter(|q| *q == b'"' || *q == b'\'');
    if quote.is_some() {
        value_start += 1;
    }
    let mut e = value_start;
    while e < t.len() && Some(t[e]) != quote && (quote.is_some() || !b",;&\"')]}".contains(&t[e])) {
        e += 1;
    }
    // `password=` with nothing after it in this token: the caller masks the next token.
    (e > value_start).then_some((value_start, Placeholder::Secret, e))
}

/// Time units accepted after a number, attached or as the next token.
const DURATION_UNITS: [&[u8]; 17] = [
    b"ns",
    b"us",
    "µs".as_bytes(),
    b"ms",
    b"s",
    b"sec",
    b"secs",
    b"second",
    b"seconds",
    b"m",
    b"min",
    b"mins",
    b"minute",
    b"minutes",
    b"h",
    b"hours",
    b"days",
];

/// Size units accepted after a number, attached or as the next token.
const SIZE_UNITS: [&[u8]; 19] = [
    b"B", b"b", b"K", b"k", b"KB", b"kB", b"kb", b"M", b"MB", b"mb", b"G", b"GB", b"gb", b"T",
    b"TB", b"KiB", b"MiB", b"GiB", b"TiB",
];

/// Unit words (`2703 bytes`, `1024Kbytes`).
const SIZE_WORDS: [&[u8]; 3] = [b"bytes", b"Bytes", b"Kbytes"];

/// The kind of quantity a unit makes. As a separate word, single letters other than `s` and
/// `B` are too often something else (`5 m` of a list, `1 k` of a key) and do not count.
fn unit_kind(unit: &[u8], separate: bool) -> Option<Placeholder> {
    if DURATION_UNITS.contains(&unit) && !(separate && (unit == b"m" || unit == b"h")) {
        Some(Placeholder::Duration)
    } else if (SIZE_UNITS.contains(&unit) && !(separate && unit.len() == 1 && unit != b"B"))
        || SIZE_WORDS.contains(&unit)
    {
        Some(Placeholder::Size)
    } else {
        None
    }
}

/// The unit token after a bare number ending at `i`: `(kind, trailing punctuation start, end)`.
fn unit_after(b: &[u8], i: usize) -> Option<(Placeholder, usize, usize)> {
    let mut j = i;
    while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
        j += 1;
    }
    if j == i {
        return None;
    }
    let mut k = j;
    while k < b.len() && !is_space(b[k]) {
        k += 1;
    }
    let mut w = k;
    while w > j && b",;:.)]".contains(&b[w - 1]) {
        w -= 1;
    }
    unit_kind(&b[j..w], true).map(|kind| (kind, w, k))
}

/// A number or a digit-led id starting at `i`; returns its end and kind.
fn number(t: &[u8], i: usize) -> (usize, Placeholder) {
    let mut k = i + 1;
    loop {
        match t.get(k) {
            Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => k += 1,
            Some(c)
                if b".:/-".contains(c) && t.get(k + 1).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                k += 2
            }
            _ => break,
        }
    }
    let s = &t[i..k];
    let body = match s[0] {
        b'-' | b'+' => &s[1..],
        _ => s,
    };
    // digits, at most one decimal point, then an optional unit
    let mut d = 0;
    while d < body.len() && body[d].is_ascii_digit() {
        d += 1;
    }
    if d > 0 && body.get(d) == Some(&b'.') && body.get(d + 1).is_some_and(u8::is_ascii_digit) {
        d += 1;
        while d < body.len() && body[d].is_ascii_digit() {
            d += 1;
        }
    }
    let kind = if d == 0 {
        Placeholder::Id
    } else if d == body.len() {
        Placeholder::Num
    } else {
        unit_kind(&body[d..], false).unwrap_or(Placeholder::Id)
    };
    (k, kind)
}

const WEEKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A word starting with a letter at `i`, in the token ending at `end` of `line`. Underscores
/// join a word (`attempt_1445_0020_m_000001_0` is one identifier), and `_-` followed by a digit
/// continues it (`blk_-42`).
fn word(line: &[u8], end: usize, i: usize) -> Option<(usize, Placeholder, usize)> {
    let t = &line[..end];
    let mut k = i;
    let mut digits = 0;
    let mut letters = 0;
    let mut underscores = 0;
    let mut hex_letters = true;
    while k < t.len() {
        let c = t[k];
        if c.is_ascii_digit() {
            digits += 1;
        } else if c.is_ascii_alphabetic() {
            letters += 1;
            hex_letters &= is_hex(c);
        } else if c == b'_' {
            underscores += 1;
        } else if !(c == b'-' && t[k - 1] == b'_' && t.get(k + 1).is_some_and(u8::is_ascii_digit)) {
            break;
        }
        k += 1;
    }
    let w = &t[i..k];
    if digits > 0 {
        let key = t.get(k) == Some(&b'=');
        // `eth0`, `sda1`, `alt0`: a name with one trailing digit is a device or a variant,
        // usually a small closed set; the miner's cardinality rule decides if it varies.
        let device =
            digits == 1 && letters >= 2 && underscores == 0 && w[w.len() - 1].is_ascii_digit();
        return (!key && !device).then_some((i, Placeholder::Id, k));
    }
    if hex_letters && underscores == 0 && letters >= 12 {
        return Some((i, Placeholder::Hex, k));
    }
    if w.len() == 3 && (WEEKDAYS.contains(&w) || MONTHS.contains(&w)) && date_context(line, end, k)
    {
        return Some((i, Placeholder::Date, k));
    }
    None
}

/// True if a weekday or month name ending at `k` ends its token (maybe with a comma) and the
/// next token is a number or a month name: `Thu Aug 11`, `Fri, 20 Dec`.
fn date_context(line: &[u8], end: usize, k: usize) -> bool {
    let comma = usize::from(line.get(k) == Some(&b','));
    if k + comma != end {
        return false;
    }
    let mut j = end;
    while j < line.len() && is_space(line[j]) {
        j += 1;
    }
    match line.get(j) {
        Some(c) if c.is_ascii_digit() => true,
        Some(_) => {
            let next = &line[j..line.len().min(j + 3)];
            MONTHS.contains(&next) && line.get(j + 3).is_none_or(|&c| is_space(c))
        }
        None => false,
    }
}

/// Collapses back-to-back repeats of one to three tokens that contain a placeholder.
fn collapse_repeats(out: &mut MaskedLine) {
    let n = out.spans.len();
    if n < 2 {
        return;
    }
    let mut w = 0;
    for r in 0..n {
        out.spans[w] = out.spans[r];
        w += 1;
        for p in 1..=3 {
            if w < 2 * p {
                break;
            }
            let a = w - 2 * p;
            let b = w - p;
            let same = (0..p).all(|j| same_shape(out.token(a + j), out.token(b + j)));
            if same && (0..p).any(|j| has_variable(out.token(b + j))) {
                w -= p;
                break;
            }
        }
    }
    out.spans.truncate(w);
}

/// Equal bytes, except that any placeholder equals any other (the same value can be masked as
/// `<NUM>` in one place and `<ID>` in the next: `90990003` vs `8aff0003`) and any digit any
/// other (`node2 node3`).
#[inline]
pub(crate) fn same_shape(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x == y || (is_marker(*x) && is_marker(*y)) || (x.is_ascii_digit() && y.is_ascii_digit())
        })
}

/// True if a token holds a placeholder or a digit.
fn has_variable(t: &[u8]) -> bool {
    t.iter().any(|&b| is_marker(b) || b.is_ascii_digit())
}
