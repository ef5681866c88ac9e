//! Refused ingestion requests per tenant, UTC day and reason (the error code), for
//! `GET /usage`.
//!
//! A refusal records nothing in the event store, so there is no transaction to count it in:
//! each instance tallies its refusals in memory and adds them to the store about once a
//! second ([`RefusalTally::flush`]), so a refused request costs a hash-map increment, not a
//! database write, however fast a client retries. A crash loses at most the last second's
//! tally; a flush that fails keeps its counts for the next one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, Utc};
use telemetry_domain::values::TenantId;

use crate::ports::{PortError, RefusalCount, UsageStore};

type Key = (TenantId, NaiveDate, &'static str);

pub struct RefusalTally {
    store: Arc<dyn UsageStore>,
    pending: Mutex<HashMap<Key, u64>>,
}

impl RefusalTally {
    pub fn new(store: Arc<dyn UsageStore>) -> Self {
        Self {
            store,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// One request of `tenant` refused with `reason` (an error code) now.
    pub fn record(&self, tenant: &TenantId, reason: &'static str) {
        let key = (tenant.clone(), Utc::now().date_naive(), reason);
        if let Ok(mut pending) = self.pending.lock() {
            *pending.entry(key).or_default() += 1;
        }
    }

    /// Adds the tally so far to the store; on failure the counts stay for the next flush.
    pub async fn flush(&self) -> Result<(), PortError> {
        let taken = match self.pending.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return Ok(()),
        };
        if taken.is_empty() {
            return Ok(());
        }
        let counts: Vec<RefusalCount> = taken
            .iter()
            .map(|((tenant, day, reason), requests)| RefusalCount {
                tenant: tenant.clone(),
                day: *day,
                reason,
                requests: *requests,
            })
            .collect();
        let added = self.store.add_refusals(&counts).await;
        if added.is_err() {
            if let Ok(mut pending) = self.pending.lock() {
                for (key, requests) in taken {
                    *pending.entry(key).or_default() += requests;
                }
            }
        }
        added
    }
}
