//! Adapters: the only place SeaORM, argon2, bcrypt, redis and lettre appear.
mod batch_queue;
pub mod counter_batches;
pub mod db;
mod hash_memory;
pub mod hasher;
pub mod identity_assertions;
pub mod mailer;
pub mod memory;
pub mod portone;
pub mod redis;
pub mod reset_entry;
pub mod sealer;
pub mod webhook_sender;
