//! Rows of `scripts/bench`'s table: one tab-separated line per figure,
//! `item  label  value  unit  target  met` (see scripts/lib/bench.sh).

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

/// A figure's target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// No target: shown for the record.
    None,
    /// At most this much.
    AtMost(f64),
    /// At least this much.
    AtLeast(f64),
}

impl Target {
    fn text(self) -> String {
        match self {
            Self::None => String::new(),
            Self::AtMost(limit) => format!("<= {limit}"),
            Self::AtLeast(limit) => format!(">= {limit}"),
        }
    }

    fn met(self, value: f64) -> &'static str {
        match self {
            Self::None => "-",
            Self::AtMost(limit) if value <= limit => "yes",
            Self::AtLeast(limit) if value >= limit => "yes",
            Self::AtMost(_) | Self::AtLeast(_) => "no",
        }
    }
}

/// One figure of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The item of docs/benchmarks.md it belongs to (1 to 8).
    pub item: u8,
    /// What it is, e.g. `getSlots p99 (32 clients)`.
    pub label: String,
    /// The measured value.
    pub value: f64,
    /// Its unit, e.g. `ms` or `req/s`.
    pub unit: &'static str,
    /// What it should be.
    pub target: Target,
}

impl Row {
    /// A row for `item`.
    pub fn new(
        item: u8,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
        target: Target,
    ) -> Self {
        Self {
            item,
            label: label.into(),
            value,
            unit,
            target,
        }
    }

    fn line(&self) -> String {
        // Tabs and newlines would break the row apart.
        let label = self.label.replace(['\t', '\n'], " ");
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\n",
            self.item,
            label,
            (self.value * 100.0).round() / 100.0,
            self.unit,
            self.target.text(),
            self.target.met(self.value)
        )
    }
}

/// Appends `rows` to the results file at `path`.
pub fn append(path: &Path, rows: &[Row]) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("failed to open {}", path.display()))?;
    let text: String = rows.iter().map(Row::line).collect();
    file.write_all(text.as_bytes())
        .with_context(|| format!("failed to write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_says_whether_its_target_is_met() {
        let row = Row::new(2, "getSlots p99", 11.304, "ms", Target::AtMost(10.0));
        assert_eq!(row.line(), "2\tgetSlots p99\t11.3\tms\t<= 10\tno\n");
        let row = Row::new(1, "rate", 2100.0, "req/s", Target::AtLeast(2000.0));
        assert_eq!(row.line(), "1\trate\t2100\treq/s\t>= 2000\tyes\n");
        let row = Row::new(8, "size\tof x", 12.5, "MiB", Target::None);
        assert_eq!(row.line(), "8\tsize of x\t12.5\tMiB\t\t-\n");
    }
}
