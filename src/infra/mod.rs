//! Adapters: the only place SeaORM, argon2 and bcrypt (and later redis and lettre) appear.
pub mod db;
pub mod hasher;
pub mod mailer;
pub mod memory_sessions;
pub mod memory_store;
pub mod redis_sessions;
pub mod redis_store;
pub mod sealer;
