//! Paging parameters shared by the partner and admin lists.

use handoff_core::model::PageRequest;
use serde::Deserialize;
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
