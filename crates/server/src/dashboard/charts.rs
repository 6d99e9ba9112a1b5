//! Charts as server-rendered SVG: no script, nothing fetched, allowed by the page's CSP.
//! A series is a run of buckets (minutes, hours or days); each chart draws one value per
//! bucket as a line, gaps where a bucket had no attempts, and for success rates HubSpot's
//! 95% as a dashed line. Every number is formatted here, so the markup holds no input.

use std::fmt::Write as _;

use store::{ApiCounts, WebhookCounts};

use crate::http::page::escape;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 8.0;

/// One bucket's sums.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bucket {
    pub attempts: i64,
    pub successes: i64,
    pub latency_ms_sum: i64,
    pub deliveries: i64,
}

impl Bucket {
    fn rate(&self) -> Option<f64> {
        (self.attempts > 0).then(|| self.successes as f64 / self.attempts as f64)
    }

    fn latency(&self) -> Option<f64> {
        (self.deliveries > 0).then(|| self.latency_ms_sum as f64 / self.deliveries as f64)
    }
}

/// `count` buckets of `unit` minutes ending with the one holding `now_minute`, summing the
/// webhook and API rows that fall in each (rolled-up rows sit at their unit's first
/// minute, so each lands in one bucket).
pub fn buckets(
    webhooks: &[WebhookCounts],
    api: &[ApiCounts],
    now_minute: i64,
    unit: i64,
    count: i64,
) -> Vec<Bucket> {
    let first = (now_minute.div_euclid(unit) - count + 1) * unit;
    let mut out = vec![Bucket::default(); count as usize];
    let slot = |minute: i64| -> Option<usize> {
        let index = (minute - first).div_euclid(unit);
        (0..count).contains(&index).then_some(index as usize)
    };
    for row in webhooks {
        if let Some(i) = slot(row.minute) {
            let unseen = crate::monitor::rates::unseen_deliveries(row);
            out[i].attempts += row.attempts + unseen;
            out[i].successes += row.successes;
            out[i].latency_ms_sum += row.latency_ms_sum;
            out[i].deliveries += row.attempts;
        }
    }
    for row in api {
        if let Some(i) = slot(row.minute) {
            out[i].attempts += row.calls;
            out[i].successes += row.calls - row.errors;
        }
    }
    out
}

/// The success rate (webhooks and API calls together) per bucket, 95% drawn.
pub fn success_rate(buckets: &[Bucket], label: &str) -> String {
    let values: Vec<Option<f64>> = buckets
        .iter()
        .map(|b| b.rate().map(|r| r * 100.0))
        .collect();
    let lowest = values.iter().flatten().copied().fold(100.0_f64, f64::min);
    let floor = if lowest >= 90.0 {
        90.0
    } else {
        (lowest / 10.0).floor() * 10.0
    };
    chart(&values, floor, 100.0, Some(95.0), "%", label)
}

/// The mean acknowledgement latency per bucket, in milliseconds.
pub fn latency(buckets: &[Bucket], label: &str) -> String {
    let values: Vec<Option<f64>> = buckets.iter().map(Bucket::latency).collect();
    let highest = values.iter().flatten().copied().fold(10.0_f64, f64::max);
    chart(&values, 0.0, nice_ceiling(highest), None, " ms", label)
}

fn nice_ceiling(value: f64) -> f64 {
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|c| *c >= value)
        .unwrap_or(10.0 * magnitude)
}

fn chart(
    values: &[Option<f64>],
    low: f64,
    high: f64,
    line: Option<f64>,
    unit: &str,
    label: &str,
) -> String {
    let (plot_w, plot_h) = (WIDTH - LEFT - 4.0, HEIGHT - TOP - BOTTOM);
    let x = |i: usize| LEFT + plot_w * (i as f64 + 0.5) / values.len().max(1) as f64;
    let y = |v: f64| TOP + plot_h * (1.0 - ((v - low) / (high - low)).clamp(0.0, 1.0));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"##,
        escape(label)
    );
    for (value, text) in [
        (high, format!("{high:.0}{unit}")),
        (low, format!("{low:.0}{unit}")),
    ] {
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - 4.0,
            LEFT - 6.0,
            y(value) + 4.0,
            escape(&text),
            y = y(value),
        );
    }
    if let Some(line) = line {
        let _ = write!(
            svg,
            r##"<line class="threshold" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}"/><text class="threshold-label" x="{}" y="{:.1}" text-anchor="end">{line:.0}{}</text>"##,
            WIDTH - 4.0,
            LEFT - 6.0,
            y(line) + 4.0,
            escape(unit),
            y = y(line),
        );
    }
    // One polyline per run of buckets with a value; a lone point gets a dot.
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64)>, svg: &mut String| {
        match run.as_slice() {
            [] => {}
            [(px, py)] => {
                let _ = write!(
                    svg,
                    r##"<circle class="point" cx="{px:.1}" cy="{py:.1}" r="2.5"/>"##
                );
            }
            points => {
                let path: Vec<String> = points
                    .iter()
                    .map(|(px, py)| format!("{px:.1},{py:.1}"))
                    .collect();
                let _ = write!(
                    svg,
                    r##"<polyline class="series" points="{}"/>"##,
                    path.join(" ")
                );
            }
        }
        run.clear();
    };
    for (i, value) in values.iter().enumerate() {
        match value {
            Some(v) => run.push((x(i), y(*v))),
            None => flush(&mut run, &mut svg),
        }
    }
    flush(&mut run, &mut svg);
    if values.iter().all(Option::is_none) {
        let _ = write!(
            svg,
            r##"<text class="empty" x="{}" y="{}" text-anchor="middle">no activity yet</text>"##,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use store::PortalId;

    use super::*;

    fn minute(minute: i64, attempts: i64, successes: i64) -> WebhookCounts {
        WebhookCounts {
            minute,
            attempts,
            successes,
            latency_ms_sum: 20 * attempts,
            ..WebhookCounts::default()
        }
    }

    #[test]
    fn rows_fall_into_their_buckets_and_gaps_stay_gaps() {
        // Hours ending with the one holding minute 185: 120..180 and 180..240.
        let rows = [
            minute(120, 4, 4),
            minute(179, 4, 2),
            minute(181, 2, 2),
            minute(60, 9, 9),
        ];
        let calls = [ApiCounts {
            scope: store::Scope::Portal(PortalId(1)),
            minute: 130,
            calls: 2,
            errors: 2,
            rate_limited: 0,
        }];
        let hours = buckets(&rows, &calls, 185, 60, 2);
        assert_eq!(
            (hours[0].attempts, hours[0].successes),
            (10, 6),
            "minute 60 is before"
        );
        assert_eq!((hours[1].attempts, hours[1].successes), (2, 2));
        assert_eq!(hours[0].latency(), Some(20.0));

        let svg = success_rate(&[hours[0], Bucket::default(), hours[1]], "rate");
        assert!(svg.contains(r#"class="threshold""#), "95% is drawn");
        assert_eq!(svg.matches("<circle").count(), 2, "a gap splits the line");
        assert!(success_rate(&[Bucket::default()], "x").contains("no activity yet"));
    }
}
