//! Drawing: grouped bars with plotters' bitmap backend, labels in a TrueType font.

use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::figures::{DecodeFigure, OURS, best_peer};

/// Font family name the chart's text uses, registered from `--font`.
const FAMILY: &str = "sans-serif";
/// Bar colours by client, bilipulse first.
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

/// The cases in first-seen order, and the clients with bilipulse first.
fn axes(figures: &[DecodeFigure]) -> (Vec<String>, Vec<String>) {
    let mut cases: Vec<String> = Vec::new();
    let mut clients: Vec<String> = vec![OURS.to_owned()];
    for f in figures {
        if !cases.contains(&f.case()) {
            cases.push(f.case());
        }
        if !clients.contains(&f.client) {
            clients.push(f.client.clone());
        }
    }
    clients.retain(|c| figures.iter().any(|f| &f.client == c));
    (cases, clients)
}

/// Draws commands per CPU-second, one group of bars per case, into `out` (PNG).
pub fn draw_decode(
    figures: &[DecodeFigure],
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
    draw(figures, caption, out).map_err(draw_err)
}

fn draw(
    figures: &[DecodeFigure],
    caption: &str,
    out: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (cases, clients) = axes(figures);
    let top = figures
        .iter()
        .filter_map(|f| f.msgs_per_cpu_s)
        .fold(0.0, f64::max)
        * 1.18;
    let root = BitMapBackend::new(out, (1200, 680)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = if caption.is_empty() {
        "Decoding real Bilibili commands: commands per CPU-second".to_owned()
    } else {
        format!("Decoding real Bilibili commands: commands per CPU-second ({caption})")
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FAMILY, 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(cases.len() as f64 - 0.5), 0f64..top.max(1.0))?;
    let labels = cases.clone();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .x_labels(cases.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc("commands per CPU-second (user + system)")
        .y_label_formatter(&|y| format!("{:.0} k", y / 1000.0))
        .label_style((FAMILY, 15))
        .draw()?;
    let width = 0.8 / clients.len() as f64;
    for (ci, client) in clients.iter().enumerate() {
        let colour = COLOURS[ci.min(COLOURS.len() - 1)];
        let bars: Vec<(f64, f64, String)> = figures
            .iter()
            .filter(|f| &f.client == client)
            .filter_map(|f| {
                let v = f.msgs_per_cpu_s?;
                let case = cases.iter().position(|c| *c == f.case())? as f64;
                let x = case - 0.4 + width * ci as f64;
                let label = match best_peer(figures, f) {
                    Some(best) if f.client == OURS && best > 0.0 => {
                        format!("{:.0} k ({:.1}×)", v / 1000.0, v / best)
                    }
                    _ => format!("{:.0} k", v / 1000.0),
                };
                Some((x, v, label))
            })
            .collect();
        chart
            .draw_series(bars.iter().map(|(x, v, _)| {
                Rectangle::new([(*x, 0.0), (x + width * 0.92, *v)], colour.filled())
            }))?
            .label(client.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], colour.filled()));
        chart.draw_series(bars.iter().map(|(x, v, label)| {
            Text::new(
                label.clone(),
                (*x, v + top * 0.015),
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

    fn fig(client: &str, mode: &str, conns: u32, v: f64) -> DecodeFigure {
        DecodeFigure {
            client: client.into(),
            mode: mode.into(),
            conns,
            msgs_per_cpu_s: Some(v),
        }
    }

    #[test]
    fn cases_keep_their_order_and_bilipulse_comes_first() {
        let f = [
            fig("blivedm", "flood", 1, 1.0),
            fig("bilipulse", "flood", 1, 3.0),
            fig("blivedm", "rate-1000", 50, 1.0),
        ];
        let (cases, clients) = axes(&f);
        assert_eq!(cases, ["flood, 1 conn", "rate-1000, 50 conns"]);
        assert_eq!(clients, ["bilipulse", "blivedm"]);
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
        let f = [
            fig("bilipulse", "flood", 1, 115_606.0),
            fig("bilibili-live-ws", "flood", 1, 33_840.0),
            fig("blivedm", "flood", 1, 14_124.0),
        ];
        draw_decode(&f, font, "test", &out).unwrap();
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
            draw_decode(&f, &not_a_font, "", &out),
            Err(PlotError::NotAFont(_))
        ));
    }
}
