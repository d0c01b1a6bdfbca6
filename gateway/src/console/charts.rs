//! Charts as inline SVG, drawn on the server: no chart library, no script, and they print.
//! Colours come from the style sheet (`.s0` … `.s9`), so the legend and the bars agree.

use maud::{Markup, html};

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

/// The smallest "nice" axis maximum at least `max` (1, 2 or 5 times a power of ten).
fn nice_max(max: u64) -> u64 {
    if max <= 5 {
        return 5;
    }
    let mut step = 1u64;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step = step.saturating_mul(10);
    }
}

fn y_axis(top: u64) -> Markup {
    let plot = HEIGHT - TOP - BOTTOM;
    html! {
        @for i in 0..=4u64 {
            @let value = top * i / 4;
            @let y = TOP + plot - plot * (i as f64) / 4.0;
            line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
            text.tick x=(LEFT - 4.0) y=(y + 3.0) text-anchor="end" { (value) }
        }
    }
}

/// A bar segment: series index, series name, value, top y and height.
type Segment<'a> = (usize, &'a str, u64, f64, f64);

/// A stacked bar per category (a day), one segment per series (a department).
pub(crate) fn stacked_bars(
    id: &str,
    label: &str,
    categories: &[String],
    series: &[(String, Vec<u64>)],
) -> Markup {
    let totals: Vec<u64> = (0..categories.len())
        .map(|i| {
            series
                .iter()
                .map(|(_, v)| v.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let top = nice_max(totals.iter().copied().max().unwrap_or(0));
    let plot = HEIGHT - TOP - BOTTOM;
    let slot = (WIDTH - LEFT - RIGHT) / categories.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = |v: u64| plot * v as f64 / top as f64;
    // Per category: its x, and each non-zero segment as (series index, name, value, y, height).
    let columns: Vec<(f64, Vec<Segment<'_>>)> = (0..categories.len())
        .map(|i| {
            let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
            let mut base = 0u64;
            let mut segments = Vec::new();
            for (s, (name, values)) in series.iter().enumerate() {
                let v = values.get(i).copied().unwrap_or(0);
                if v > 0 {
                    base += v;
                    segments.push((s, name.as_str(), v, TOP + plot - scale(base), scale(v)));
                }
            }
            (x, segments)
        })
        .collect();
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label=(label) data-total=(totals.iter().sum::<u64>()) {
                (y_axis(top))
                @for (day, (x, segments)) in categories.iter().zip(&columns) {
                    @for (s, name, v, y, h) in segments {
                        rect class={ "s" (s % 10) } x=(x) y=(y) width=(bar) height=(h) data-series=(name) data-category=(day) data-value=(v) {
                            title { (day) " " (name) ": " (v) }
                        }
                    }
                    text.tick x=(x + bar / 2.0) y=(HEIGHT - BOTTOM + 14.0) text-anchor="middle" { (day.get(5..).unwrap_or(day)) }
                }
            }
            figcaption {
                ul.legend {
                    @for (s, (name, values)) in series.iter().enumerate() {
                        li { span class={ "sw s" (s % 10) } {} (name) " (" (values.iter().sum::<u64>()) ")" }
                    }
                }
            }
        }
    }
}

/// One bar per category.
pub(crate) fn bars(id: &str, label: &str, categories: &[String], values: &[u64]) -> Markup {
    stacked_bars(
        id,
        label,
        categories,
        &[(label.to_owned(), values.to_vec())],
    )
}

/// Horizontal bars, largest first, for ranked items.
pub(crate) fn ranking(id: &str, label: &str, items: &[(String, u64)]) -> Markup {
    let top = nice_max(items.iter().map(|(_, v)| *v).max().unwrap_or(0));
    let row = 26.0;
    let height = TOP + row * items.len().max(1) as f64 + 8.0;
    let label_width = 170.0;
    let plot = WIDTH - label_width - 60.0;
    html! {
        figure.chart {
            svg #(id) viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-label=(label) {
                @for (i, (name, v)) in items.iter().enumerate() {
                    @let y = TOP + row * i as f64;
                    @let w = plot * *v as f64 / top as f64;
                    text.label x=(label_width - 6.0) y=(y + 15.0) text-anchor="end" { (name) }
                    rect class={ "s" (i % 10) } x=(label_width) y=(y + 3.0) width=(w.max(1.0)) height=(row - 8.0) data-category=(name) data-value=(v) {
                        title { (name) ": " (v) }
                    }
                    text.tick x=(label_width + w + 6.0) y=(y + 15.0) { (v) }
                }
                @if items.is_empty() {
                    text.tick x=(WIDTH / 2.0) y=(TOP + 14.0) text-anchor="middle" { "无数据 No data" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0), 5);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(200), 200);
        assert_eq!(nice_max(201), 500);
    }

    #[test]
    fn stacked_segments_carry_their_values() {
        let days = vec!["2026-11-20".to_owned(), "2026-11-21".to_owned()];
        let svg = stacked_bars(
            "c",
            "accesses",
            &days,
            &[("A".into(), vec![1, 0]), ("B".into(), vec![2, 3])],
        )
        .into_string();
        assert_eq!(svg.matches("<rect").count(), 3, "no segment for a zero");
        assert!(svg.contains("data-total=\"6\""));
        assert!(svg.contains("data-series=\"B\" data-category=\"2026-11-21\" data-value=\"3\""));
    }
}
