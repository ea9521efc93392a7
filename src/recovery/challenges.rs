//! The way past a target's limit: a solved proof-of-work challenge (`X-Challenge-Solution`) admits
//! one call that only the target's limit refused, never one the client's own budget refused. A
//! solution works once, across all instances (spent in the token store), for the call it was
//! issued for, until its challenge expires. Each of a stranger's calls costs the same work, so the
//! owner on a fresh device gets through at a second's cost while strangers hold the budget.
use std::sync::Arc;

use crate::{
    domain::{
        challenge::{Challenge, ChallengeSolution},
        grant::OnceKey,
        keyed_hash::KeyedHasher,
    },
    recovery::{context::RequestContext, errors::RecoveryError, ports::TokenStore},
};

#[derive(Clone)]
pub struct Challenges {
    keys: KeyedHasher,
    tokens: Arc<dyn TokenStore>,
    difficulty: u8,
}

/// What a call past a target's limit gets.
pub enum Pass {
    /// Its solution was right, live, for this call, and not used before: it goes through.
    Solved,
    /// A fresh challenge to solve and send with the call again.
    Challenged(Challenge),
}

impl Challenges {
    pub fn new(keys: KeyedHasher, tokens: Arc<dyn TokenStore>, difficulty: u8) -> Self {
        Challenges {
            keys,
            tokens,
            difficulty,
        }
    }

    /// Whether the request's solution admits a call for `purpose` (spending it), or the challenge
    /// it must solve.
    pub async fn pass(&self, ctx: &RequestContext, purpose: &str) -> Result<Pass, RecoveryError> {
        if let Some(solution) = &ctx.solution {
            match solution.check(&self.keys, purpose, ctx.now) {
                Ok(usable_until) => {
                    let lasts = (usable_until - ctx.now).to_std().unwrap_or_default();
                    if self.tokens.spend_once(&once_key(solution), lasts).await? {
                        return Ok(Pass::Solved);
                    }
                    // Not the purpose: it names the login ID or address.
                    tracing::info!("challenge solution used before");
                }
                Err(refusal) => tracing::info!(%refusal, "challenge solution refused"),
            }
        }
        Ok(Pass::Challenged(Challenge::issue(
            &self.keys,
            purpose,
            self.difficulty,
            ctx.now,
        )))
    }
}

fn once_key(solution: &ChallengeSolution) -> OnceKey {
    OnceKey::of("pow", &[solution.nonce()])
}
