//! `ResetQueue` on Redis: a stream read through one consumer group, so each handed-off request
//! goes to one resolver; `XAUTOCLAIM` gives a request whose resolver died (not acknowledged within
//! the lease) to another. One script per claim and per acknowledgement.
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use redis::Value;

use super::{RedisStore, keys::Key, millis, scripts::SCRIPTS};
use crate::{
    infra::reset_entry,
    recovery::ports::{ClaimedReset, HandedOffReset, ResetQueue, StoreError},
};

const GROUP: &str = "resolvers";
const FIELD: &str = "r";

/// The hand-off queue of one instance: the shared stream, read as a consumer of its own.
pub struct RedisResetQueue {
    store: Arc<RedisStore>,
    consumer: String,
    /// Where the next `XAUTOCLAIM` scan of the pending list starts.
    cursor: Mutex<String>,
}

impl RedisResetQueue {
    pub fn new(store: Arc<RedisStore>) -> Self {
        RedisResetQueue {
            store,
            consumer: uuid::Uuid::new_v4().simple().to_string(),
            cursor: Mutex::new("0-0".into()),
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// `[[id, [field, value, …]], …]` → (id, the request field if readable). Deleted entries (nil) are skipped.
fn entries(value: &Value) -> Vec<(String, Option<HandedOffReset>)> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let Value::Array(parts) = item else { return None };
            let id = text(parts.first()?)?;
            let request = match parts.get(1) {
                Some(Value::Array(fields)) => fields
                    .chunks(2)
                    .find(|pair| pair.first().and_then(text).as_deref() == Some(FIELD))
                    .and_then(|pair| pair.get(1).and_then(text))
                    .and_then(|raw| reset_entry::decode(&raw)),
                _ => None,
            };
            Some((id, request))
        })
        .collect()
}

#[async_trait]
impl ResetQueue for RedisResetQueue {
    async fn hand_off(&self, request: &HandedOffReset) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(self.store.key(Key::ResetStream))
            .arg("*")
            .arg(FIELD)
            .arg(reset_entry::encode(request));
        self.store.query::<String>(&cmd).await.map(|_| ())
    }

    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ClaimedReset>, StoreError> {
        let stream = self.store.key(Key::ResetStream);
        let cursor = self
            .cursor
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|_| "0-0".into());
        let args = [
            GROUP.to_owned(),
            self.consumer.clone(),
            millis(lease).to_string(),
            cursor,
            limit.max(1).to_string(),
        ];
        let reply: Value = self
            .store
            .invoke(&SCRIPTS.claim_resets, &[&stream], &args)
            .await?;
        let Value::Array(parts) = reply else {
            return Err(StoreError::Internal("redis: unexpected claim reply".into()));
        };
        if let (Some(next), Ok(mut cursor)) = (parts.first().and_then(text), self.cursor.lock()) {
            *cursor = next;
        }
        let taken = parts.get(1).map(entries).unwrap_or_default();
        let fresh = parts.get(2).map(entries).unwrap_or_default();
        let mut claimed = Vec::new();
        let mut unreadable = Vec::new();
        let all = taken
            .into_iter()
            .map(|e| (e, true))
            .chain(fresh.into_iter().map(|e| (e, false)));
        for ((id, request), redelivered) in all {
            match request {
                Some(request) => claimed.push(ClaimedReset {
                    id,
                    redelivered,
                    request,
                }),
                None => unreadable.push(id),
            }
        }
        self.drop_unreadable(&unreadable).await?;
        Ok(claimed)
    }

    async fn acknowledge(&self, ids: &[String]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let stream = self.store.key(Key::ResetStream);
        let mut args = vec![GROUP.to_owned()];
        args.extend(ids.iter().cloned());
        self.store
            .invoke::<i64>(&SCRIPTS.ack_resets, &[&stream], &args)
            .await
            .map(|_| ())
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        let mut cmd = redis::cmd("XLEN");
        cmd.arg(self.store.key(Key::ResetStream));
        self.store.query::<u64>(&cmd).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_entries_are_read_and_deleted_ones_skipped() {
        let request = HandedOffReset {
            site: crate::domain::site::SiteId::parse("main").unwrap(),
            lang: crate::domain::lang::Lang::En,
            client: None,
            target: crate::recovery::ports::ResetTarget::Email(
                crate::domain::email::Email::parse("a@example.com").unwrap(),
            ),
            nonce: crate::domain::reset_nonce::ResetNonce::generate(),
            admission: crate::domain::device::Admission::Budget,
        };
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk(FIELD), bulk(&reset_entry::encode(&request))]),
            ]),
            Value::Array(vec![bulk("2-0"), Value::Array(vec![bulk(FIELD), bulk("junk")])]),
            Value::Nil,
        ]);
        let read = entries(&reply);
        assert_eq!(read.len(), 2);
        assert_eq!(read[0], ("1-0".to_owned(), Some(request)));
        assert_eq!(read[1], ("2-0".to_owned(), None));
    }
}
