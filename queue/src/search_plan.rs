//! How `list` walks a SQL table, written once for the SQLite and PostgreSQL backends: which
//! index's equality columns drive the walk (the most selective first: a state such as `dead` or
//! `running` is usually a small part of the table, and queue with state is one index), which
//! filters are checked row by row, where a request starts (its cursor) and where the next one
//! goes on. Each backend turns a [`Plan`] into its own SQL.

use crate::error::QueueError;
use crate::model::JobFilter;

/// The largest page `list` returns.
pub const MAX_PAGE: usize = 500;

/// The index whose equality columns drive a walk; every one orders its rows by `seq` within them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    /// (queue, state).
    QueueState,
    /// (state).
    State,
    /// (kind).
    Kind,
    /// (tenant).
    Tenant,
    /// The table itself, in `seq` order.
    Table,
}

/// How one `list` request walks the table.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The driving index.
    pub(crate) index: Index,
    /// Equality filters the index answers: `(column, value)`.
    pub(crate) driving: Vec<(&'static str, String)>,
    /// Equality filters checked row by row.
    pub(crate) residual: Vec<(&'static str, String)>,
    /// Text to find in args.
    pub(crate) text: Option<String>,
    /// The page size.
    pub(crate) limit: usize,
    /// Only rows with a smaller `seq` (the cursor; `i64::MAX` on the first page).
    pub(crate) below: i64,
}

impl Plan {
    /// The plan of `filter`; a cursor that is not one of ours is refused.
    pub(crate) fn of(filter: &JobFilter) -> Result<Self, QueueError> {
        let below = match &filter.cursor {
            None => i64::MAX,
            Some(c) => c
                .parse::<i64>()
                .map_err(|_| QueueError::Invalid(format!("bad cursor `{c}`")))?,
        };
        let mut equal: Vec<(&'static str, String)> = [
            ("queue", filter.queue.clone()),
            ("state", filter.state.map(|s| s.as_str().to_owned())),
            ("kind", filter.kind.clone()),
            ("tenant", filter.tenant.clone()),
            ("enqueued_by", filter.enqueued_by.clone()),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect();
        let has = |equal: &[(&str, String)], c: &str| equal.iter().any(|(k, _)| *k == c);
        let (index, columns): (Index, &[&str]) = if has(&equal, "queue") && has(&equal, "state") {
            (Index::QueueState, &["queue", "state"])
        } else if has(&equal, "state") {
            (Index::State, &["state"])
        } else if has(&equal, "kind") {
            (Index::Kind, &["kind"])
        } else if has(&equal, "tenant") {
            (Index::Tenant, &["tenant"])
        } else {
            (Index::Table, &[])
        };
        let (driving, residual) = equal.drain(..).partition(|(c, _)| columns.contains(c));
        Ok(Self {
            index,
            driving,
            residual,
            text: filter.text.clone().filter(|t| !t.is_empty()),
            limit: filter.limit.clamp(1, MAX_PAGE),
            below,
        })
    }

    /// Rows one request may examine when filters no index answers are left: `budget`, and at
    /// least a page and one.
    pub(crate) fn budget(&self, budget: usize) -> i64 {
        i64::try_from(budget.max(self.limit + 1)).unwrap_or(i64::MAX)
    }

    /// The cursor of the next page: after the last job of a full page (`fetched` rows asked
    /// for `limit + 1`), else at the window's floor when the budget ran out before the page
    /// filled (`window`: the floor and whether the window was full), else none (the walk
    /// reached the oldest job).
    pub(crate) fn next_cursor(
        &self,
        fetched: usize,
        last_seq: Option<i64>,
        window: Option<(i64, bool)>,
    ) -> Option<String> {
        let next = if fetched > self.limit {
            last_seq
        } else {
            match window {
                Some((floor, true)) => Some(floor),
                _ => None,
            }
        };
        next.map(|s| s.to_string())
    }
}
