//! CSV export (RFC 4180), safe to open in a spreadsheet.

use std::io::{self, Write};

use super::AuditRecord;

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 14] = [
    "seq",
    "at_ms",
    "time_utc",
    "actor_kind",
    "actor_id",
    "actor_name",
    "ip",
    "action",
    "target_kind",
    "target_id",
    "outcome",
    "detail",
    "prev_hash",
    "hash",
];

/// Writes the CSV header line (RFC 4180, CRLF line ends).
pub fn write_csv_header(out: &mut impl Write) -> io::Result<()> {
    write_csv_line(out, CSV_COLUMNS.iter().map(|c| (*c).to_string()))
}

/// Writes `records` as CSV lines (no header). Text cells that a spreadsheet would run
/// as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) get a leading `'`.
pub fn write_csv_records(out: &mut impl Write, records: &[AuditRecord]) -> io::Result<()> {
    for r in records {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        write_csv_line(
            out,
            [
                r.seq.to_string(),
                r.at.to_string(),
                utc_timestamp(r.at),
                csv_text(&r.actor_kind),
                csv_text(&opt(&r.actor_id)),
                csv_text(&opt(&r.actor_name)),
                csv_text(&opt(&r.ip)),
                csv_text(&r.action),
                csv_text(&opt(&r.target_kind)),
                csv_text(&opt(&r.target_id)),
                csv_text(&r.outcome),
                csv_text(&r.detail.to_string()),
                csv_text(&r.prev_hash),
                csv_text(&r.hash),
            ],
        )?;
    }
    Ok(())
}

fn write_csv_line(out: &mut impl Write, cells: impl IntoIterator<Item = String>) -> io::Result<()> {
    let mut first = true;
    for cell in cells {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        out.write_all(csv_cell(&cell).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// A text value made safe to open in a spreadsheet: a leading `=`, `+`, `-`, `@`, tab
/// or carriage return would make Excel or LibreOffice evaluate the cell as a formula
/// (CSV injection), so such values get a leading `'`. Actor names, target ids and
/// details come from users, hence this applies to every text column.
fn csv_text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    }
}

/// Quotes one cell per RFC 4180 when it holds a comma, quote or line break.
fn csv_cell(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// `2024-05-01T12:34:56.789Z` for Unix ms; spreadsheets sort this text correctly.
fn utc_timestamp(ms: i64) -> String {
    let t = vigil_store::UtcTime::from_unix_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.milli
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(actor_name: &str, detail: serde_json::Value) -> AuditRecord {
        AuditRecord {
            seq: 7,
            at: 1_714_566_896_789,
            actor_kind: "user".into(),
            actor_id: None,
            actor_name: Some(actor_name.into()),
            ip: Some("192.0.2.1".into()),
            action: "auth.login".into(),
            target_kind: None,
            target_id: None,
            outcome: "failure".into(),
            detail,
            prev_hash: "ab".into(),
            hash: "cd".into(),
        }
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_cells() {
        let mut out = Vec::new();
        write_csv_header(&mut out).unwrap();
        write_csv_records(
            &mut out,
            &[
                sample(
                    "=HYPERLINK(\"http://x\",\"y\")",
                    serde_json::json!({"a": "b,c"}),
                ),
                sample("+1", serde_json::json!({})),
                sample("-2", serde_json::json!({})),
                sample("@SUM(A1)", serde_json::json!({})),
                sample("\tx", serde_json::json!({})),
                sample("\rx", serde_json::json!({})),
                sample("plain name", serde_json::json!({})),
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], CSV_COLUMNS.join(","));
        assert_eq!(
            lines[1],
            "7,1714566896789,2024-05-01T12:34:56.789Z,user,,\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",\
             192.0.2.1,auth.login,,,failure,\"{\"\"a\"\":\"\"b,c\"\"}\",ab,cd"
        );
        let names: Vec<&str> = lines[2..7]
            .iter()
            .map(|l| l.split(',').nth(5).unwrap())
            .collect();
        assert_eq!(names, ["'+1", "'-2", "'@SUM(A1)", "'\tx", "\"'\rx\""]);
        assert!(lines[7].contains(",plain name,"));
        assert_eq!(lines[8], "");
    }

    #[test]
    fn timestamps_render_in_utc() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc_timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(utc_timestamp(-1), "1969-12-31T23:59:59.999Z");
    }
}
