//! Drawing: grouped bars with plotters' bitmap backend, labels in a TrueType font.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::FontStyle;

/// Font family name the chart's text uses, registered from `--font`.
const FAMILY: &str = "sans-serif";
/// Bar colours by series, in first-seen order (bilipulse's series comes first).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x3a, 0x6b),
    RGBColor(0x4a, 0x7b, 0xd0),
    RGBColor(0x6a, 0xa8, 0x4f),
    RGBColor(0x99, 0x99, 0x99),
];

/// Why drawing failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The font file could not be read.
    #[error("cannot read the font {path}: {source}")]
    FontFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The font file is not a font.
    #[error("{0} is not a TrueType/OpenType font")]
    NotAFont(PathBuf),
    /// Plotters could not draw or write the PNG.
    #[error("cannot draw {path}: {source}")]
    Draw {
        /// The PNG being written.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A chart of grouped bars: one group per case, one bar (and colour) per series.
#[derive(Debug, Clone, PartialEq)]
pub struct BarChart {
    /// The title; the caption is appended in brackets.
    pub title: String,
    /// The y axis: what a bar's value is.
    pub y_desc: String,
    /// The bars, in any order: groups and series keep their first-seen order.
    pub bars: Vec<Bar>,
}

/// One bar of a [`BarChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The group (x position) it belongs to.
    pub group: String,
    /// The series (colour, legend entry).
    pub series: String,
    /// Its height.
    pub value: f64,
    /// The text above it.
    pub label: String,
}

/// The groups and the series of `bars`, each in first-seen order.
fn axes(bars: &[Bar]) -> (Vec<String>, Vec<String>) {
    let mut groups: Vec<String> = Vec::new();
    let mut series: Vec<String> = Vec::new();
    for b in bars {
        if !groups.contains(&b.group) {
            groups.push(b.group.clone());
        }
        if !series.contains(&b.series) {
            series.push(b.series.clone());
        }
    }
    (groups, series)
}

/// Draws `chart` into `out` (PNG), its text in the font at `font`.
pub fn draw_bars(
    chart: &BarChart,
    font: &Path,
    caption: &str,
    out: &Path,
) -> Result<(), PlotError> {
    let bytes = std::fs::read(font).map_err(|source| PlotError::FontFile {
        path: font.to_owned(),
        source,
    })?;
    // Plotters keeps registered fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes)
        .map_err(|_| PlotError::NotAFont(font.to_owned()))?;
    let draw_err = |e: Box<dyn std::error::Error + Send + Sync>| PlotError::Draw {
        path: out.to_owned(),
        source: e,
    };
    draw(chart, caption, out).map_err(draw_err)
}

fn draw(
    spec: &BarChart,
    caption: &str,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (groups, series) = axes(&spec.bars);
    let top = spec.bars.iter().map(|b| b.value).fold(0.0, f64::max) * 1.18;
    let root = BitMapBackend::new(out, (1200, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = if caption.is_empty() {
        spec.title.clone()
    } else {
        format!("{} ({caption})", spec.title)
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(groups.len() as f64 - 0.5), 0f64..top.max(1.0))?;
    let labels = groups.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .x_labels(groups.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(spec.y_desc.as_str())
        .y_label_formatter(&|y| format!("{:.0} k", y / 1000.0))
        .label_style((FAMILY, 15))
        .draw()?;
    let width = 0.8 / series.len() as f64;
    for (si, name) in series.iter().enumerate() {
        let colour = COLOURS[si.min(COLOURS.len() - 1)];
        let bars: Vec<(f64, &Bar)> = spec
            .bars
            .iter()
            .filter(|b| &b.series == name)
            .filter_map(|b| {
                let group = groups.iter().position(|g| *g == b.group)? as f64;
                Some((group - 0.4 + width * si as f64, b))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|(x, b)| {
                Rectangle::new([(*x, 0.0), (x + width * 0.92, b.value)], colour.filled())
            }))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        chart.draw_series(bars.iter().map(|(x, b)| {
            Text::new(
                b.label.clone(),
                (*x, b.value + top * 0.015),
                (FAMILY, 13).into_font().color(&BLACK),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(group: &str, series: &str, v: f64) -> Bar {
        Bar {
            group: group.into(),
            series: series.into(),
            value: v,
            label: format!("{v}"),
        }
    }

    #[test]
    fn groups_and_series_keep_their_first_seen_order() {
        let b = [
            bar("flood, 1 conn", "bilipulse", 3.0),
            bar("flood, 1 conn", "blivedm", 1.0),
            bar("rate-1000, 50 conns", "blivedm", 1.0),
        ];
        let (groups, series) = axes(&b);
        assert_eq!(groups, ["flood, 1 conn", "rate-1000, 50 conns"]);
        assert_eq!(series, ["bilipulse", "blivedm"]);
    }

    #[test]
    fn a_chart_is_written_as_png() {
        let font = Path::new(crate::DEFAULT_FONT);
        let Some(font) = bilipulse_testkit::require(
            "the DejaVu font (Debian: fonts-dejavu-core, installed with chromium)",
            font.exists().then_some(font),
        ) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("decode.png");
        let chart = BarChart {
            title: "test".into(),
            y_desc: "per CPU-second".into(),
            bars: vec![
                bar("flood, 1 conn", "bilipulse", 115_606.0),
                bar("flood, 1 conn", "bilibili-live-ws", 33_840.0),
                bar("flood, 1 conn", "blivedm", 14_124.0),
            ],
        };
        draw_bars(&chart, font, "test", &out).unwrap();
        let png = std::fs::read(&out).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
        assert!(
            png.len() > 5_000,
            "with something drawn: {} bytes",
            png.len()
        );
        let not_a_font = dir.path().join("font.ttf");
        std::fs::write(&not_a_font, b"nope").unwrap();
        assert!(matches!(
            draw_bars(&chart, &not_a_font, "", &out),
            Err(PlotError::NotAFont(_))
        ));
    }
}
