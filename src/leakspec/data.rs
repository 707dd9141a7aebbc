//! A route's `data` file: CSV with a header row (RFC 4180: quoted fields, `""` inside quotes,
//! CRLF or LF, a UTF-8 byte-order mark ignored). [`Spec::load`] reads each one so that a
//! missing or empty file, or a `{row.COLUMN}` naming no column, is an error at its line and
//! column before anything starts; the load driver reads it again when the route runs.
//!
//! ```
//! use leakcheck::leakspec::data::DataTable;
//! let table = DataTable::parse("email,name\nada@example.com,\"Lovelace, Ada\"\n").unwrap();
//! assert_eq!(table.columns, ["email", "name"]);
//! assert_eq!(table.rows[0][1], "Lovelace, Ada");
//! ```

use std::path::Path;

use super::error::{Source, SpecError};
use super::model::Spec;
use super::traffic::Traffic;

/// The rows of a data file, with the column names of its header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DataTable {
    /// Column names, from the first line.
    pub columns: Vec<String>,
    /// Every row after the header (at least one), each with one value per column.
    pub rows: Vec<Vec<String>>,
}

impl DataTable {
    /// Reads a CSV file; the error is a fragment such as "`users.csv` has a header but no rows".
    pub fn read(path: &Path) -> Result<DataTable, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("could not read data file `{}`: {e}", path.display()))?;
        DataTable::parse(&text).map_err(|e| format!("data file `{}` {e}", path.display()))
    }

    /// Parses CSV text; the error reads after the file's name ("is empty", ...).
    pub fn parse(text: &str) -> Result<DataTable, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut records = records(text)?;
        records.retain(|r| !(r.len() == 1 && r[0].is_empty()));
        if records.is_empty() {
            return Err("is empty".into());
        }
        let columns: Vec<String> =
            records.remove(0).into_iter().map(|c| c.trim().to_owned()).collect();
        if let Some(i) = columns.iter().position(String::is_empty) {
            return Err(format!("has an empty column name (column {} of the header)", i + 1));
        }
        if records.is_empty() {
            return Err("has a header but no rows".into());
        }
        for (i, row) in records.iter().enumerate() {
            if row.len() != columns.len() {
                return Err(format!(
                    "has {} values on row {} (line {} or so), but {} columns",
                    row.len(),
                    i + 1,
                    i + 2,
                    columns.len()
                ));
            }
        }
        Ok(DataTable { columns, rows: records })
    }

    /// The index of a column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

fn records(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut line = 1;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            _ => field.push(c),
        }
    }
    if quoted {
        return Err(format!("has a quote that is never closed (line {line})"));
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// Reads every route's data file and checks the columns its templates use.
pub(super) fn check_files(spec: &Spec, source: &Source<'_>) -> Result<(), Vec<SpecError>> {
    let mut errors = Vec::new();
    for target in &spec.targets {
        for route in &target.routes {
            let Traffic::Flow(flow) = &route.traffic else { continue };
            let Some(data) = &flow.data else { continue };
            let path = spec.dir.join(&data.path);
            let table = match DataTable::read(&path) {
                Ok(t) => t,
                Err(e) => {
                    let message =
                        e.replace(&path.display().to_string(), &data.path.display().to_string());
                    errors.push(SpecError::at(source, data.span.clone(), message).with_help(
                        "`data` is a CSV file with a header row and at least one row, relative to the spec's folder",
                    ));
                    continue;
                }
            };
            for step in &flow.steps {
                for template in step.templates() {
                    for column in template.columns() {
                        if table.column(column).is_none() {
                            let columns: Vec<String> =
                                table.columns.iter().map(|c| format!("`{c}`")).collect();
                            errors.push(
                                SpecError::at(
                                    source,
                                    data.span.clone(),
                                    format!(
                                        "`{{row.{column}}}` in route `{}`: `{}` has no column `{column}`",
                                        route.name,
                                        data.path.display()
                                    ),
                                )
                                .with_help(format!("its columns: {}", columns.join(", "))),
                            );
                        }
                    }
                }
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_crlf_and_errors() {
        let t =
            DataTable::parse("\u{feff}a,b\r\n\"x \"\"y\"\"\",2\r\n3,\"multi\nline\"\r\n").unwrap();
        assert_eq!(t.columns, ["a", "b"]);
        assert_eq!(
            t.rows,
            [vec!["x \"y\"".to_owned(), "2".into()], vec!["3".into(), "multi\nline".into()]]
        );
        assert_eq!(DataTable::parse("").unwrap_err(), "is empty");
        assert_eq!(DataTable::parse("a,b\n").unwrap_err(), "has a header but no rows");
        assert!(DataTable::parse("a,b\n1\n").unwrap_err().contains("1 values on row 1"));
        assert!(DataTable::parse("a\n\"x\n").unwrap_err().contains("never closed"));
    }
}
