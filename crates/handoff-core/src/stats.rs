//! The overview's arithmetic: the audit rollup's rows ([`AuditCount`]), summed per hour and per
//! day by the store, put into the last 24 hours and the last 30 days (UTC), accepted and refused
//! per surface, and the most frequent refusal reasons.
//!
//! Owns: which audit kind is which surface, the buckets (every one present, zeros included) and
//! the order of the top reasons. Must not: read the store or the clock (`now` comes in).

use std::collections::HashMap;

use crate::model::Outcome;
use crate::store::AuditCount;

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;
/// Hourly buckets: the current hour and the 23 before it.
pub const HOURS: i64 = 24;
/// Daily buckets: today (UTC) and the 29 days before it.
pub const DAYS: i64 = 30;
/// How many refusal reasons the overview names.
pub const TOP_REASONS: usize = 10;

/// The SSO surfaces the overview counts, by the audit kind each writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `POST /v1/sso`: `sso.mint`.
    PartnerMint,
    /// `GET /auth/sso`: `sso.redeem`.
    Redemption,
    /// `POST /v1/inbound/{slug}/sso`: `inbound.sso`.
    InboundWebhook,
    /// `/launch/{slug}`: `launch`.
    Launch,
}

impl Surface {
    pub fn of_kind(kind: &str) -> Option<Self> {
        match kind {
            "sso.mint" => Some(Surface::PartnerMint),
            "sso.redeem" => Some(Surface::Redemption),
            "inbound.sso" => Some(Surface::InboundWebhook),
            "launch" => Some(Surface::Launch),
            _ => None,
        }
    }
}

/// Accepted and refused records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub accepted: u64,
    pub refused: u64,
}

impl Tally {
    fn add(&mut self, outcome: Outcome, count: u64) {
        match outcome {
            Outcome::Accepted => self.accepted += count,
            Outcome::Refused => self.refused += count,
        }
    }
}

/// One hour or one day, from `start` (Unix seconds), per surface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bucket {
    pub start: i64,
    pub partner_mint: Tally,
    pub redemption: Tally,
    pub inbound_webhook: Tally,
    pub launch: Tally,
}

impl Bucket {
    fn tally(&mut self, surface: Surface) -> &mut Tally {
        match surface {
            Surface::PartnerMint => &mut self.partner_mint,
            Surface::Redemption => &mut self.redemption,
            Surface::InboundWebhook => &mut self.inbound_webhook,
            Surface::Launch => &mut self.launch,
        }
    }
}

/// How often one kind of record was refused for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReasonCount {
    pub kind: String,
    pub reason: String,
    pub count: u64,
}

/// The numbers behind the overview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// [`HOURS`] buckets, oldest first; the last is the current hour.
    pub hourly: Vec<Bucket>,
    /// [`DAYS`] buckets, oldest first; the last is today (UTC).
    pub daily: Vec<Bucket>,
    /// At most [`TOP_REASONS`] refusals of any kind over the daily buckets' span, most frequent
    /// first (ties by kind, then reason).
    pub top_refusal_reasons: Vec<ReasonCount>,
}

/// What the overview reads at `now`: rollup hours `since..until` summed per `width` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub since: i64,
    pub until: i64,
    pub width: i64,
}

impl Span {
    /// The hourly buckets' span: the 24 hours up to the end of the current one.
    pub fn hourly(now: i64) -> Self {
        Self::of(now, HOUR, HOURS)
    }

    /// The daily buckets' span: the 30 days (UTC) up to the end of the current hour (never a
    /// later hour of today: no bucket counts what is still to come).
    pub fn daily(now: i64) -> Self {
        Span { until: Self::hourly(now).until, ..Self::of(now, DAY, DAYS) }
    }

    fn of(now: i64, width: i64, buckets: i64) -> Self {
        let first = first_start(now, width, buckets);
        Span { since: first, until: first + buckets * width, width }
    }

    fn contains(&self, hour: i64) -> bool {
        (self.since..self.until).contains(&hour)
    }
}

/// The start of the oldest of `buckets` buckets of `width` seconds, the newest containing `now`.
fn first_start(now: i64, width: i64, buckets: i64) -> i64 {
    (now.div_euclid(width) - (buckets - 1)) * width
}

/// `buckets` buckets of `width` seconds up to the one containing `now`, with the `counts` of
/// `span` added (rows outside it are ignored).
fn buckets(counts: &[AuditCount], span: Span, now: i64, buckets: i64) -> Vec<Bucket> {
    let (first, width) = (first_start(now, span.width, buckets), span.width);
    let mut out: Vec<Bucket> = (0..buckets).map(|i| Bucket { start: first + i * width, ..Bucket::default() }).collect();
    for count in counts.iter().filter(|c| span.contains(c.hour)) {
        let (Some(surface), Some(outcome)) = (Surface::of_kind(&count.kind), count.outcome) else {
            continue;
        };
        let index = (count.hour - first).div_euclid(width);
        if let Some(bucket) = usize::try_from(index).ok().and_then(|i| out.get_mut(i)) {
            bucket.tally(surface).add(outcome, count.count);
        }
    }
    out
}

/// The overview at `now` from the rollup rows of [`Span::hourly`] and [`Span::daily`] (rows
/// outside them are ignored).
pub fn overview(hourly: &[AuditCount], daily: &[AuditCount], now: i64) -> Overview {
    let days = Span::daily(now);
    let mut reasons: HashMap<(&str, &str), u64> = HashMap::new();
    for count in daily.iter().filter(|c| c.outcome == Some(Outcome::Refused) && days.contains(c.hour)) {
        *reasons.entry((count.kind.as_str(), count.reason.as_str())).or_default() += count.count;
    }
    let mut top: Vec<ReasonCount> = reasons
        .into_iter()
        .map(|((kind, reason), count)| ReasonCount { kind: kind.to_owned(), reason: reason.to_owned(), count })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)).then_with(|| a.reason.cmp(&b.reason)));
    top.truncate(TOP_REASONS);
    Overview {
        hourly: buckets(hourly, Span::hourly(now), now, HOURS),
        daily: buckets(daily, days, now, DAYS),
        top_refusal_reasons: top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2023-11-14T22:13:20Z.
    const NOW: i64 = 1_700_000_000;
    const THIS_HOUR: i64 = 1_699_999_200;
    const TODAY: i64 = 1_699_920_000;

    fn count(hour: i64, kind: &str, outcome: Option<Outcome>, reason: &str, count: u64) -> AuditCount {
        AuditCount { hour, kind: kind.into(), outcome, reason: reason.into(), count }
    }

    #[test]
    fn the_spans_end_with_this_hour() {
        assert_eq!(Span::hourly(NOW), Span { since: THIS_HOUR - 23 * HOUR, until: THIS_HOUR + HOUR, width: HOUR });
        assert_eq!(Span::daily(NOW), Span { since: TODAY - 29 * DAY, until: THIS_HOUR + HOUR, width: DAY });
        assert_eq!(Span::daily(THIS_HOUR), Span::daily(THIS_HOUR + HOUR - 1));
    }

    /// The rows as the store sums them for `span`: only its hours, per span of its width.
    fn summed(counts: &[AuditCount], span: Span) -> Vec<AuditCount> {
        let mut out: Vec<AuditCount> = Vec::new();
        for c in counts.iter().filter(|c| span.contains(c.hour)) {
            let hour = c.hour - c.hour.rem_euclid(span.width);
            match out
                .iter_mut()
                .find(|o| (o.hour, &o.kind, o.outcome, &o.reason) == (hour, &c.kind, c.outcome, &c.reason))
            {
                Some(o) => o.count += c.count,
                None => out.push(AuditCount { hour, ..c.clone() }),
            }
        }
        out
    }

    fn overview_of(counts: &[AuditCount], now: i64) -> Overview {
        overview(&summed(counts, Span::hourly(now)), &summed(counts, Span::daily(now)), now)
    }

    #[test]
    fn every_bucket_is_there_with_zeros_oldest_first() {
        let overview = overview(&[], &[], NOW);
        assert_eq!(overview.hourly.len(), 24);
        assert_eq!(overview.daily.len(), 30);
        assert_eq!(overview.hourly[0].start, THIS_HOUR - 23 * HOUR);
        assert_eq!(overview.hourly[23], Bucket { start: THIS_HOUR, ..Bucket::default() });
        assert_eq!(overview.daily[0].start, TODAY - 29 * DAY);
        assert_eq!(overview.daily[29], Bucket { start: TODAY, ..Bucket::default() });
        assert!(overview.top_refusal_reasons.is_empty());
    }

    #[test]
    fn counts_go_to_their_hour_day_and_surface() {
        let accepted = Some(Outcome::Accepted);
        let refused = Some(Outcome::Refused);
        let counts = [
            count(THIS_HOUR, "sso.mint", accepted, "minted", 3),
            count(THIS_HOUR, "sso.mint", refused, "unauthorized", 2),
            count(THIS_HOUR, "sso.redeem", accepted, "redeemed", 1),
            count(THIS_HOUR - HOUR, "inbound.sso", refused, "invalid-signature", 4),
            count(THIS_HOUR - 23 * HOUR, "launch", accepted, "launched", 5),
            // Yesterday, and older than the hourly span.
            count(TODAY - 2 * HOUR, "sso.mint", accepted, "minted", 7),
            // Not a surface, or no outcome: only refusals of any kind count for the reasons.
            count(THIS_HOUR, "admin.partner.create", accepted, "ok", 9),
            count(THIS_HOUR, "admin.request", refused, "unauthorized", 1),
            count(THIS_HOUR, "sso.mint", None, "", 8),
            // Outside the window.
            count(TODAY - 30 * DAY, "sso.mint", refused, "unauthorized", 100),
            count(THIS_HOUR + HOUR, "sso.mint", accepted, "minted", 100),
        ];
        let overview = overview_of(&counts, NOW);
        let hour = &overview.hourly[23];
        assert_eq!(hour.partner_mint, Tally { accepted: 3, refused: 2 });
        assert_eq!(hour.redemption, Tally { accepted: 1, refused: 0 });
        assert_eq!(overview.hourly[22].inbound_webhook, Tally { accepted: 0, refused: 4 });
        assert_eq!(overview.hourly[0].launch, Tally { accepted: 5, refused: 0 });
        let hourly_mints: u64 = overview.hourly.iter().map(|b| b.partner_mint.accepted).sum();
        assert_eq!(hourly_mints, 3, "yesterday's mints are outside the last 24 hours");

        let today = &overview.daily[29];
        assert_eq!(today.partner_mint, Tally { accepted: 3, refused: 2 });
        assert_eq!(today.inbound_webhook, Tally { accepted: 0, refused: 4 });
        assert_eq!(overview.daily[28].partner_mint, Tally { accepted: 7, refused: 0 });
        assert_eq!(overview.daily[28].launch, Tally { accepted: 5, refused: 0 }, "23 hours ago was yesterday");
        let daily_mints: u64 = overview.daily.iter().map(|b| b.partner_mint.accepted + b.partner_mint.refused).sum();
        assert_eq!(daily_mints, 12);

        let reasons: Vec<_> =
            overview.top_refusal_reasons.iter().map(|r| (r.kind.as_str(), r.reason.as_str(), r.count)).collect();
        assert_eq!(
            reasons,
            [
                ("inbound.sso", "invalid-signature", 4),
                ("sso.mint", "unauthorized", 2),
                ("admin.request", "unauthorized", 1)
            ]
        );
    }

    #[test]
    fn the_top_reasons_are_the_ten_most_frequent_summed_over_the_days() {
        let refused = Some(Outcome::Refused);
        let mut counts: Vec<AuditCount> =
            (0..12).map(|i| count(TODAY - i64::from(i) * DAY, "sso.mint", refused, &format!("r{i:02}"), 1)).collect();
        counts.push(count(THIS_HOUR, "sso.mint", refused, "r11", 20));
        counts.push(count(TODAY - 3 * DAY, "sso.redeem", refused, "r05", 1));
        let top = overview_of(&counts, NOW).top_refusal_reasons;
        assert_eq!(top.len(), TOP_REASONS);
        assert_eq!((top[0].reason.as_str(), top[0].count), ("r11", 21));
        // Ties by kind, then reason: r00…r08 of sso.mint before sso.redeem's r05; r09 and r10 miss out.
        let rest: Vec<_> = top[1..].iter().map(|r| format!("{} {}", r.kind, r.reason)).collect();
        let expected: Vec<String> = (0..9).map(|i| format!("sso.mint r{i:02}")).collect();
        assert_eq!(rest, expected);
    }
}
