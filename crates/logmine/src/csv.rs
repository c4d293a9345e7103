//! A small RFC 4180 CSV reader and writer: enough for Loghub files and the CLI's output.
//!
//! Fields are separated by commas and records by `\n` or `\r\n`; a field in double quotes may
//! contain commas, newlines and doubled quotes (`""`). A quote inside an unquoted field is kept
//! as a literal character, as most producers expect. A leading byte-order mark is skipped.

use std::borrow::Cow;

use crate::error::Error;

/// Parses a whole CSV text into records of fields. Empty lines are skipped.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let b = text.as_bytes();
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut i = 0;
    // Whether the current record has any content yet (to skip blank lines).
    let mut started = false;
    while i < b.len() {
        let c = b[i];
        // A quote opens a quoted field only at the start of the field.
        if c == b'"' && field.is_empty() && at_field_start(b, i) {
            // Quoted field: copy up to the closing quote, unescaping `""`.
            let quote_line = line;
            i += 1;
            let mut start = i;
            loop {
                match b.get(i) {
                    None => {
                        return Err(Error::Csv {
                            line: quote_line,
                            message: "unterminated quoted field".into(),
                        })
                    }
                    Some(b'"') if b.get(i + 1) == Some(&b'"') => {
                        field.push_str(&text[start..=i]);
                        i += 2;
                        start = i;
                    }
                    Some(b'"') => {
                        field.push_str(&text[start..i]);
                        i += 1;
                        break;
                    }
                    Some(b'\n') => {
                        line += 1;
                        i += 1;
                    }
                    Some(_) => i += 1,
                }
            }
            started = true;
            // Anything between the closing quote and the next separator is kept literally.
            let rest = i;
            while i < b.len() && b[i] != b',' && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
            field.push_str(&text[rest..i]);
            continue;
        }
        match c {
            b',' => {
                record.push(std::mem::take(&mut field));
                started = true;
                i += 1;
            }
            b'\r' if b.get(i + 1) == Some(&b'\n') => i += 1,
            b'\n' => {
                if started || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                started = false;
                line += 1;
                i += 1;
            }
            _ => {
                // Copy a run of ordinary bytes at once (keeps UTF-8 intact).
                let start = i;
                while i < b.len() && !matches!(b[i], b',' | b'\n' | b'\r') {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\r' && b.get(i + 1) != Some(&b'\n') {
                    i += 1;
                }
                field.push_str(&text[start..i]);
                started = true;
            }
        }
    }
    if started || !field.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// True if position `i` starts a field (the text start, or after a separator or newline).
fn at_field_start(b: &[u8], i: usize) -> bool {
    i == 0 || matches!(b[i - 1], b',' | b'\n' | b'\r')
}

/// A field quoted if it needs to be.
pub fn escape(field: &str) -> Cow<'_, str> {
    if field.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(field)
    }
}

/// Appends one record and a `\n` to `out`.
pub fn write_record(out: &mut String, fields: &[&str]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&escape(f));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields() {
        let rows = parse("a,b\r\n1,\"x, \"\"y\"\"\nz\"\n\n2,\n").unwrap();
        assert_eq!(
            rows,
            vec![vec!["a", "b"], vec!["1", "x, \"y\"\nz"], vec!["2", ""]]
        );
    }

    #[test]
    fn literal_quote_in_unquoted_field() {
        let rows = parse("a,b\"c\"\n").unwrap();
        assert_eq!(rows, vec![vec!["a", "b\"c\""]]);
    }

    #[test]
    fn unterminated() {
        assert!(parse("a,\"b\n").is_err());
    }

    #[test]
    fn roundtrip() {
        let mut out = String::new();
        write_record(&mut out, &["1", "a,b", "say \"hi\"", ""]);
        assert_eq!(
            parse(&out).unwrap(),
            vec![vec!["1", "a,b", "say \"hi\"", ""]]
        );
    }
}
