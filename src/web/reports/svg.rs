//! The Order history overview as a chart: plain SVG, no script.

use crate::costs::{Channel, Funnel};
use crate::db::reports::{CHANNELS, Overview};

/// Colours of the channels in the chart (Polaris data-visualisation palette), and "other".
pub const CHANNEL_COLOURS: [&str; 6] = ["#25a06a", "#2c6ecb", "#47c1bf", "#9c6ade", "#f49342", "#8c9196"];

/// The per-day chart: one bar per day whose height is the day's confirmation rate, stacked by the
/// channel that confirmed. Plain SVG, no script.
pub fn overview_svg(o: &Overview) -> String {
    let (w, h, left, bottom, top) = (640.0f64, 220.0f64, 40.0f64, 28.0f64, 10.0f64);
    let plot_h = h - bottom - top;
    let n = o.days.len().max(1) as f64;
    let slot = (w - left - 10.0) / n;
    let bar = (slot * 0.6).min(48.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" class=\"chart\">\
         <title id=\"chart-title\">Confirmation rate per day</title><desc id=\"chart-desc\">"
    );
    let desc: Vec<String> = o.days.iter().map(|d| format!("{}: {:.0}% of {} orders confirmed", d.date, d.rate_pct(), d.total)).collect();
    s.push_str(&html_escape(&desc.join("; ")));
    s.push_str("</desc>");
    s.push_str(&gridlines(left, w - 10.0, top, plot_h));
    for (i, d) in o.days.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = top + plot_h;
        let other = d.confirmed - d.by_channel.iter().sum::<i64>();
        let parts = d.by_channel.iter().copied().chain([other.max(0)]).enumerate();
        for (c, count) in parts {
            if count <= 0 || d.total == 0 {
                continue;
            }
            let hgt = plot_h * count as f64 / d.total as f64;
            y -= hgt;
            let label = CHANNELS.get(c).map(|c| c.1).unwrap_or("Other");
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{hgt:.1}\" fill=\"{}\"><title>{} {}: {count} confirmed</title></rect>",
                CHANNEL_COLOURS[c],
                d.date,
                label
            ));
        }
        let short = d.date.get(5..).unwrap_or(&d.date);
        // A day without orders has no rate: "–", not a 0% that reads like a real one.
        let rate = if d.total == 0 { "–".to_string() } else { format!("{:.0}%", d.rate_pct()) };
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#616161\">{short}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\" fill=\"#303030\">{}</text>",
            x + bar / 2.0,
            h - bottom + 14.0,
            x + bar / 2.0,
            (y - 3.0).max(top + 8.0),
            rate
        ));
    }
    s.push_str("</svg>");
    s
}

/// The funnel's stages, and their colours in [`funnel_svg`] (light to dark: each stage a part of the one before).
pub const FUNNEL_STAGES: [(&str, &str); 4] = [("Sent", "#a4c2f4"), ("Delivered", "#6d9eeb"), ("Answered", "#2c6ecb"), ("Confirmed", "#1f4e96")];

/// The funnel per channel: for each channel a group of four bars (sent, delivered, answered,
/// confirmed) on one scale of orders, so no bar of a group is taller than the one before it.
/// Plain SVG, no script.
pub fn funnel_svg(id: &str, funnel: &[(Channel, Funnel)]) -> String {
    let (w, h, left, bottom, top) = (640.0f64, 240.0f64, 48.0f64, 30.0f64, 30.0f64);
    let plot_h = h - bottom - top;
    let max = funnel.iter().map(|(_, f)| f.sent).max().unwrap_or(0).max(1);
    let slot = (w - left - 10.0) / funnel.len().max(1) as f64;
    let bar = ((slot * 0.8) / 4.0).min(24.0);
    let id = html_escape(id);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"chart\">\
         <title id=\"{id}-title\">Funnel per channel: orders sent, delivered, answered and confirmed</title><desc id=\"{id}-desc\">"
    );
    let desc: Vec<String> = funnel
        .iter()
        .map(|(c, f)| format!("{}: {} sent, {} delivered, {} answered, {} confirmed", c.label(), f.sent, f.delivered, f.answered, f.confirmed))
        .collect();
    s.push_str(&html_escape(&desc.join("; ")));
    s.push_str("</desc>");
    for q in 0..=4 {
        let v = max as f64 * q as f64 / 4.0;
        let y = top + plot_h * (1.0 - q as f64 / 4.0);
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">{v:.0}</text>",
            w - 10.0,
            left - 4.0,
            y + 3.0
        ));
    }
    for (i, (name, colour)) in FUNNEL_STAGES.iter().enumerate() {
        let x = left + 110.0 * i as f64;
        s.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{:.1}\" y=\"15\" font-size=\"10\" fill=\"#303030\">{name}</text>",
            x + 14.0
        ));
    }
    for (i, (channel, f)) in funnel.iter().enumerate() {
        let x0 = left + slot * i as f64 + (slot - 4.0 * bar) / 2.0;
        let label = html_escape(channel.label());
        for (j, ((stage, colour), n)) in FUNNEL_STAGES.iter().zip([f.sent, f.delivered, f.answered, f.confirmed]).enumerate() {
            let hgt = plot_h * n.max(0) as f64 / max as f64;
            let (x, y) = (x0 + bar * j as f64, top + plot_h - hgt);
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{hgt:.1}\" fill=\"{colour}\"><title>{label}, {}: {n} orders</title></rect>",
                bar - 1.0,
                stage.to_lowercase()
            ));
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#616161\">{label}</text>",
            x0 + 2.0 * bar,
            h - bottom + 14.0
        ));
    }
    s.push_str("</svg>");
    s
}

/// One bar of [`rate_bars_svg`]: its label, its rate (0–1; None: no bar, "–"), the count the rate
/// is of (shown as "n = …" so a small sample reads as one), and its colour.
pub struct RateBar {
    pub label: String,
    pub rate: Option<f64>,
    pub n: i64,
    pub colour: &'static str,
}

/// A bar per item whose height is its rate, in the overview's style: plain SVG, no script.
pub fn rate_bars_svg(id: &str, title: &str, bars: &[RateBar]) -> String {
    let (w, h, left, bottom, top) = (640.0f64, 220.0f64, 40.0f64, 40.0f64, 14.0f64);
    let plot_h = h - bottom - top;
    let slot = (w - left - 10.0) / bars.len().max(1) as f64;
    let bar = (slot * 0.6).min(64.0);
    let id = html_escape(id);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" class=\"chart\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">",
        html_escape(title)
    );
    let pct = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{:.1}%", r * 100.0));
    let desc: Vec<String> = bars.iter().map(|b| format!("{}: {} (n = {})", b.label, pct(b.rate), b.n)).collect();
    s.push_str(&html_escape(&desc.join("; ")));
    s.push_str("</desc>");
    s.push_str(&gridlines(left, w - 10.0, top, plot_h));
    for (i, b) in bars.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let label = html_escape(&b.label);
        let mut y = top + plot_h;
        if let Some(r) = b.rate {
            let hgt = plot_h * r.clamp(0.0, 1.0);
            y -= hgt;
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{hgt:.1}\" fill=\"{}\"><title>{label}: {} (n = {})</title></rect>",
                b.colour,
                pct(b.rate),
                b.n
            ));
        }
        let cx = x + bar / 2.0;
        s.push_str(&format!(
            "<text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#616161\">{label}</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#616161\">n = {}</text>\
             <text x=\"{cx:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\" fill=\"#303030\">{}</text>",
            h - bottom + 14.0,
            h - bottom + 28.0,
            b.n,
            (y - 3.0).max(top + 8.0),
            pct(b.rate)
        ));
    }
    s.push_str("</svg>");
    s
}

/// The 0–100% gridlines with their labels, left of `left`, across the plot from `left` to `right`
/// whose top is `top` and height `plot_h`: shared by both charts so they read alike.
fn gridlines(left: f64, right: f64, top: f64, plot_h: f64) -> String {
    let mut s = String::new();
    for pct in [0, 25, 50, 75, 100] {
        let y = top + plot_h * (1.0 - pct as f64 / 100.0);
        s.push_str(&format!(
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\
             <text x=\"{}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">{pct}%</text>",
            left - 4.0,
            y + 3.0
        ));
    }
    s
}

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::reports::DayRate;

    #[test]
    fn gridlines_run_from_0_at_the_bottom_to_100_at_the_top() {
        let g = gridlines(40.0, 630.0, 10.0, 180.0);
        assert!(g.starts_with(
            "<line x1=\"40\" x2=\"630\" y1=\"190.0\" y2=\"190.0\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\
             <text x=\"36\" y=\"193.0\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">0%</text>"
        ), "{g}");
        assert!(g.ends_with("<text x=\"36\" y=\"13.0\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">100%</text>"), "{g}");
        assert!(g.contains("y1=\"100.0\"") && g.contains(">50%</text>"), "{g}");
        assert_eq!(g.matches("<line ").count(), 5);
    }

    #[test]
    fn both_charts_draw_the_gridlines_of_their_own_plot() {
        let days = vec![DayRate { date: "2024-01-01".into(), total: 10, confirmed: 7, by_channel: [3, 2, 1, 0, 0] }];
        let overview = overview_svg(&Overview { channels: vec![], days });
        // 220 high, 28 below and 10 above the plot.
        assert!(overview.contains(&gridlines(40.0, 630.0, 10.0, 182.0)), "{overview}");
        let bars = [RateBar { label: "Confirmed".into(), rate: Some(0.25), n: 4, colour: "#25a06a" }];
        let rates = rate_bars_svg("rto-chart", "RTO", &bars);
        // 220 high, 40 below (label and n) and 14 above the plot.
        assert!(rates.contains(&gridlines(40.0, 630.0, 14.0, 166.0)), "{rates}");
        assert!(rates.contains("y1=\"180.0\"") && rates.contains("y=\"17.0\" font-size=\"10\" text-anchor=\"end\" fill=\"#616161\">100%"), "{rates}");
    }
}
