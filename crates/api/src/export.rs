//! Reports as files for people who take the numbers into their own tools: the same report a
//! client reads as JSON, as CSV or as an XLSX workbook (`?format=csv|xlsx`). A file is one table:
//! the report's flat rows (one per stage and currency, per month and currency, ...), under a
//! header naming each column. The access is logged before any of it is written, like every read.

use axum::Json;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::problem::ApiError;

/// How a report is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    Csv,
    Xlsx,
}

pub(crate) const XLSX_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Answers `report` in `format`: as it is for JSON, else as the table `rows` makes of it, in a
/// file named `<name>.<csv|xlsx>`.
pub(crate) fn answer<T: Serialize, R: Serialize>(
    format: Format,
    name: &str,
    report: T,
    rows: impl FnOnce(&T) -> Vec<R>,
) -> Result<Response, ApiError> {
    let (body, content_type, extension) = match format {
        Format::Json => return Ok(Json(report).into_response()),
        Format::Csv => (csv(&rows(&report))?, "text/csv; charset=utf-8", "csv"),
        Format::Xlsx => (xlsx(name, &rows(&report))?, XLSX_TYPE, "xlsx"),
    };
    let disposition = format!("attachment; filename=\"{name}.{extension}\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(disposition) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, disposition);
    }
    Ok(response)
}

/// The rows as CSV, every text cell a spreadsheet would take for a formula (a stage or lead
/// source named `=HYPERLINK(...)`) made text by a leading `'`.
fn csv<R: Serialize>(rows: &[R]) -> Result<Vec<u8>, ApiError> {
    let failed =
        |error: &dyn std::fmt::Display| ApiError::Internal(format!("a CSV export: {error}"));
    let mut serialised = csv::Writer::from_writer(Vec::new());
    for row in rows {
        serialised.serialize(row).map_err(|error| failed(&error))?;
    }
    let serialised = serialised.into_inner().map_err(|error| failed(&error))?;
    let mut records = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(serialised.as_slice());
    let mut writer = csv::Writer::from_writer(Vec::new());
    for record in records.records() {
        let record = record.map_err(|error| failed(&error))?;
        writer
            .write_record(record.iter().map(|cell| inert(cell).into_owned()))
            .map_err(|error| failed(&error))?;
    }
    writer.into_inner().map_err(|error| failed(&error))
}

/// `cell`, with a `'` before it when a spreadsheet would read it as a formula (OWASP's CSV
/// injection rule); a number such as `-5` stays a number.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    let formula = match cell.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => cell.parse::<f64>().is_err(),
        _ => false,
    };
    if formula {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

fn xlsx<R: Serialize>(name: &str, rows: &[R]) -> Result<Vec<u8>, ApiError> {
    let failed =
        |error: rust_xlsxwriter::XlsxError| ApiError::Internal(format!("an XLSX export: {error}"));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    // Excel's sheet names are at most 31 characters.
    sheet
        .set_name(name.chars().take(31).collect::<String>())
        .map_err(failed)?;
    if let Some(first) = rows.first() {
        let bold = rust_xlsxwriter::Format::new().set_bold();
        sheet
            .serialize_headers_with_format(0, 0, first, &bold)
            .map_err(failed)?;
        for row in rows {
            sheet.serialize(row).map_err(failed)?;
        }
    }
    workbook.save_to_buffer().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Row {
        stage: &'static str,
        currency: &'static str,
        amount_minor: i64,
        average_age_days: Option<f64>,
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                stage: "qualify",
                currency: "EUR",
                amount_minor: 125_000,
                average_age_days: Some(2.5),
            },
            Row {
                stage: "proposal, final",
                currency: "USD",
                amount_minor: 9,
                average_age_days: None,
            },
        ]
    }

    #[test]
    fn a_csv_export_has_a_header_and_one_line_per_row_quoted_where_needed() {
        let text = String::from_utf8(csv(&rows()).unwrap()).unwrap();
        assert_eq!(
            text,
            "stage,currency,amount_minor,average_age_days\n\
             qualify,EUR,125000,2.5\n\
             \"proposal, final\",USD,9,\n"
        );
    }

    #[test]
    fn a_csv_cell_a_spreadsheet_would_run_is_made_text() {
        #[derive(Serialize)]
        struct Source {
            source: &'static str,
            won_minor: i64,
        }
        let rows = [
            Source {
                source: "=HYPERLINK(\"http://evil/\",\"x\")",
                won_minor: -5,
            },
            Source {
                source: "-2+3",
                won_minor: 0,
            },
            Source {
                source: "web",
                won_minor: 7,
            },
        ];
        let text = String::from_utf8(csv(&rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "source,won_minor\n\
             \"'=HYPERLINK(\"\"http://evil/\"\",\"\"x\"\")\",-5\n\
             '-2+3,0\n\
             web,7\n"
        );
    }

    #[test]
    fn an_xlsx_export_is_a_zip_workbook() {
        let bytes = xlsx("pipeline-report", &rows()).unwrap();
        assert!(
            bytes.starts_with(b"PK\x03\x04"),
            "an XLSX file is a zip archive"
        );
        assert!(bytes.len() > 1_000);
    }

    #[test]
    fn a_file_names_its_type_and_its_name() {
        let response = answer(Format::Csv, "forecast", 1, |_| rows()).unwrap();
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/csv; charset=utf-8"
        );
        assert_eq!(
            response.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"forecast.csv\""
        );
    }
}
