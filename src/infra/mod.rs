//! Adapters: the only place SeaORM, argon2 and bcrypt (and later redis and lettre) appear.
pub mod db;
pub mod hasher;
