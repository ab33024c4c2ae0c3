//! The console's charts: SVG drawn on the server, so a browser needs no script or library to
//! show them. A chart of stacked bars (accepted below, refused above), each with a title and a
//! description for assistive technology, and its numbers as a table in a `<details>` under it.
//!
//! Owns: the geometry (scale, ticks, which bars are labelled) and the chart's markup. Must not:
//! know what is counted (the page passes labelled bars), or style through attributes (the CSP
//! allows the stylesheet only: every colour is a class in `console.css`).

use maud::{html, Markup};

/// One bar: a span of time and what happened in it.
pub struct Bar {
    /// When the span starts (RFC 3339), for `<time datetime>`.
    pub start: String,
    /// The short label under the bar ("14:00", "Nov 3").
    pub axis: String,
    /// The label of the bar's row in the table ("2023-11-14 14:00").
    pub row: String,
    pub accepted: u64,
    pub refused: u64,
}

// The drawing's coordinate system (the SVG scales to the width of its box).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 6.0;
const TOP: f64 = 8.0;
const BOTTOM: f64 = 24.0;
/// At most this many bars carry a label under them (a label every few bars).
const AXIS_LABELS: usize = 8;

/// A stacked bar chart of `bars` named `title`, with a table of its numbers whose first column
/// is headed `column`. `id` is unique on the page (the table and the title are named after it).
pub fn stacked(id: &str, title: &str, column: &str, bars: &[Bar]) -> Markup {
    let (accepted, refused) = bars.iter().fold((0, 0), |(a, r), bar| (a + bar.accepted, r + bar.refused));
    let top = scale_top(bars.iter().map(|b| b.accepted + b.refused).max().unwrap_or(0));
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    let y = |count: u64| TOP + plot_height * (1.0 - count as f64 / top as f64);
    let every = bars.len().div_ceil(AXIS_LABELS).max(1);
    let title_id = format!("{id}-title");
    html! {
        svg class="chart" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-labelledby=(title_id) {
            title id=(title_id) { (title) ": " (accepted) " accepted, " (refused) " refused" }
            @for tick in [0, top / 2, top] {
                line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(tick)) y2=(y(tick)) {}
                text class="tick" x=(LEFT - 6.0) y=(y(tick) + 4.0) text-anchor="end" { (tick) }
            }
            @for (i, bar) in bars.iter().enumerate() {
                @let x = LEFT + slot * i as f64 + slot * 0.15;
                @let width = slot * 0.7;
                g {
                    title { (bar.row) ": " (bar.accepted) " accepted, " (bar.refused) " refused" }
                    @if bar.accepted > 0 {
                        rect class="accepted" x=(x) width=(width) y=(y(bar.accepted)) height=(y(0) - y(bar.accepted)) {}
                    }
                    @if bar.refused > 0 {
                        @let total = bar.accepted + bar.refused;
                        rect class="refused" x=(x) width=(width) y=(y(total)) height=(y(bar.accepted) - y(total)) {}
                    }
                }
                // Label every few bars, always including the newest.
                @if (bars.len() - 1 - i).is_multiple_of(every) {
                    text class="tick" x=(x + width / 2.0) y=(HEIGHT - 6.0) text-anchor="middle" { (bar.axis) }
                }
            }
            line class="axis" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(0)) y2=(y(0)) {}
        }
        details class="numbers" {
            summary { "The numbers" }
            table id=(format!("{id}-table")) {
                caption { (title) }
                thead { tr { th scope="col" { (column) } th scope="col" { "Accepted" } th scope="col" { "Refused" } } }
                tbody {
                    @for bar in bars {
                        tr {
                            th scope="row" { time datetime=(bar.start) { (bar.row) } }
                            td { (bar.accepted) }
                            td { (bar.refused) }
                        }
                    }
                }
                tfoot { tr { th scope="row" { "Total" } td { (accepted) } td { (refused) } } }
            }
        }
    }
}

/// The legend the charts of a page share.
pub fn legend() -> Markup {
    html! {
        ul class="legend" {
            li { span class="swatch accepted" {} "Accepted" }
            li { span class="swatch refused" {} "Refused" }
        }
    }
}

/// The top of the scale for a tallest bar of `max`: 2, 4 or 10 times a power of ten (even, so
/// the middle tick is whole), at least `max`.
fn scale_top(max: u64) -> u64 {
    let mut step = 1;
    loop {
        for top in [2 * step, 4 * step, 10 * step] {
            if top >= max {
                return top;
            }
        }
        step = step.saturating_mul(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_ends_at_a_round_even_number() {
        let tops: Vec<u64> = [0, 1, 2, 3, 5, 9, 10, 11, 39, 41, 99, 101].into_iter().map(scale_top).collect();
        assert_eq!(tops, [2, 2, 2, 4, 10, 10, 10, 20, 40, 100, 100, 200]);
    }

    #[test]
    fn every_bar_has_a_row_and_the_newest_a_label() {
        let bars: Vec<Bar> = (0..24)
            .map(|i| Bar {
                start: format!("2023-11-14T{i:02}:00:00Z"),
                axis: format!("{i:02}:00"),
                row: format!("2023-11-14 {i:02}:00"),
                accepted: i,
                refused: 1,
            })
            .collect();
        let html = stacked("mint", "Partner mint", "Hour (UTC)", &bars).into_string();
        assert!(html.contains("<title id=\"mint-title\">Partner mint: 276 accepted, 24 refused</title>"), "{html}");
        assert_eq!(html.matches("<tr><th scope=\"row\"><time").count(), 24);
        assert!(html.contains(">23:00</text>") && html.contains(">20:00</text>") && !html.contains(">22:00</text>"));
        assert!(!html.contains("style"), "{html}");
    }
}
