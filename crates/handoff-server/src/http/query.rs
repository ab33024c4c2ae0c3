//! Query parameters shared by the surfaces: paging for the partner and admin lists, and the
//! audit log's filters (the admin API's `GET /admin/v1/audit` and the console's audit pages read
//! them the same way).

use handoff_core::model::{AuditFilter, Outcome, PageRequest};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};

/// The store request for a page of `limit` items (1 to `max`, `default` when absent) after
/// `cursor`, and the limit itself.
pub fn page_request(cursor: Option<&str>, limit: Option<u32>, default: u32, max: u32) -> ApiResult<(PageRequest, u32)> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be between 1 and {max}.")));
    }
    // One more than asked, to know whether another page follows.
    Ok((PageRequest { after: cursor.map(str::to_owned), limit: limit + 1 }, limit))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page [default: 50].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> ApiResult<(PageRequest, u32)> {
        page_request(self.cursor.as_deref(), self.limit, 50, 200)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the user with this email address.
    pub email: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page [default: 50].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl ListQuery {
    pub fn page(&self) -> ApiResult<(PageRequest, u32)> {
        page_request(self.cursor.as_deref(), self.limit, 50, 200)
    }
}

/// The audit log's filters and page. An empty value is no filter (an HTML form sends every
/// field, filled or not).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records of this kind, e.g. `sso.mint`.
    pub kind: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: Option<String>,
    /// Records with this reason, e.g. `user-disabled`.
    pub reason: Option<String>,
    pub partner_id: Option<String>,
    pub organization_id: Option<String>,
    pub user_id: Option<String>,
    /// From this time on: RFC 3339, Unix seconds, or `YYYY-MM-DDTHH:MM[:SS]` in UTC.
    pub since: Option<String>,
    /// Before this time: RFC 3339, Unix seconds, or `YYYY-MM-DDTHH:MM[:SS]` in UTC.
    pub until: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page [default: 100].
    #[serde(default, deserialize_with = "handoff_core::wire::whole::query")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

impl AuditQuery {
    /// The store filter for a page of `limit` records (one more, to know whether another follows).
    pub fn filter(&self) -> ApiResult<(AuditFilter, u32)> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 1000."));
        }
        let outcome = given(&self.outcome)
            .map(|o| Outcome::parse(o).ok_or_else(|| ApiError::invalid("outcome must be accepted or refused.")))
            .transpose()?;
        let before = given(&self.cursor)
            .map(|c| c.parse::<i64>().map_err(|_| ApiError::invalid("cursor is not valid.")))
            .transpose()?;
        let text = |value: &Option<String>| given(value).map(str::to_owned);
        let filter = AuditFilter {
            kind: text(&self.kind),
            outcome,
            reason: text(&self.reason),
            partner_id: text(&self.partner_id),
            organization_id: text(&self.organization_id),
            user_id: text(&self.user_id),
            since: time_param("since", given(&self.since))?,
            until: time_param("until", given(&self.until))?,
            before,
            limit: limit + 1,
        };
        Ok((filter, limit))
    }
}

/// A parameter's value, unless it is absent or empty.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn time_param(name: &str, value: Option<&str>) -> ApiResult<Option<i64>> {
    value
        .map(|v| {
            parse_time(v).ok_or_else(|| {
                ApiError::invalid(format!("{name} must be RFC 3339, Unix seconds or YYYY-MM-DDTHH:MM in UTC."))
            })
        })
        .transpose()
}

/// Parses an RFC 3339 timestamp, Unix seconds, or a browser's `datetime-local` value
/// (`YYYY-MM-DDTHH:MM[:SS]`, taken as UTC).
pub fn parse_time(text: &str) -> Option<i64> {
    let local = |text| {
        PrimitiveDateTime::parse(text, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
            .or_else(|_| PrimitiveDateTime::parse(text, format_description!("[year]-[month]-[day]T[hour]:[minute]")))
            .ok()
            .map(|t| t.assume_utc().unix_timestamp())
    };
    text.parse::<i64>()
        .ok()
        .or_else(|| OffsetDateTime::parse(text, &Rfc3339).ok().map(OffsetDateTime::unix_timestamp))
        .or_else(|| local(text))
}
