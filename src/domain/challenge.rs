//! Proof of work past a target's limit (SPEC §5). Where only a target's limit (not the client's)
//! refuses a call, the answer carries a challenge; a solution admits one call past that limit.
//! The challenge is stateless: its nonce carries when it expires, how hard it is, and a MAC over
//! those and what it is for (operation and target), so no store holds issued challenges and a
//! solution works only for the call it was issued for. Spending it once is the caller's part.
use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{key_id::Purpose, keyed_hash::KeyedHasher};

/// The hash the client computes; the only one offered.
pub const ALGORITHM: &str = "sha256";
/// How long a challenge may be solved and its solution used.
pub const LIFETIME: Duration = Duration::from_secs(120);
/// The longest counter accepted in a solution (a u64 in decimal fits).
const MAX_COUNTER_LEN: usize = 32;

/// A challenge as the client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub nonce: String,
    pub difficulty: u8,
    pub expires_at: DateTime<Utc>,
}

/// Bytes of a nonce: expiry (8, seconds), difficulty (1), random (16), MAC (16).
const NONCE_BYTES: usize = 8 + 1 + 16 + 16;

fn mac(keys: &KeyedHasher, purpose: &str, signed: &[u8]) -> [u8; 16] {
    // Short-lived: the current key's nonce subkey, under a label of its own.
    let full = keys.mac(Purpose::Nonce, "pow-challenge", &[purpose.as_bytes(), signed]);
    full[..16].try_into().expect("16 of 32 bytes")
}

impl Challenge {
    /// A fresh challenge of `difficulty` zero bits for `purpose` (operation and target), at `now`.
    pub fn issue(keys: &KeyedHasher, purpose: &str, difficulty: u8, now: DateTime<Utc>) -> Challenge {
        let expires_at = now + chrono::Duration::from_std(LIFETIME).unwrap_or_default();
        let mut bytes = Vec::with_capacity(NONCE_BYTES);
        bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        bytes.push(difficulty);
        let mut random = [0u8; 16];
        rand::fill(&mut random);
        bytes.extend_from_slice(&random);
        let tag = mac(keys, purpose, &bytes);
        bytes.extend_from_slice(&tag);
        Challenge {
            nonce: URL_SAFE_NO_PAD.encode(&bytes),
            difficulty,
            expires_at,
        }
    }
}

/// A solution as the client sends it (`X-Challenge-Solution: <nonce>:<counter>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeSolution {
    nonce: String,
    counter: String,
}

/// Why a solution does not admit the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SolutionRefusal {
    #[error("not a challenge of this service for this call")]
    Forged,
    #[error("the challenge expired")]
    Expired,
    #[error("the hash does not start with enough zero bits")]
    Unsolved,
}

impl ChallengeSolution {
    pub fn parse(header: &str) -> Option<ChallengeSolution> {
        let (nonce, counter) = header.trim().rsplit_once(':')?;
        let counter_ok = !counter.is_empty()
            && counter.len() <= MAX_COUNTER_LEN
            && counter.bytes().all(|b| b.is_ascii_alphanumeric());
        let nonce_ok = nonce.len() <= 2 * NONCE_BYTES && !nonce.is_empty();
        (counter_ok && nonce_ok).then(|| ChallengeSolution {
            nonce: nonce.to_owned(),
            counter: counter.to_owned(),
        })
    }

    /// The nonce: what spending the solution once is keyed by.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Whether this solves a challenge this service issued for `purpose`, still live at `now`;
    /// answers until when it may be used.
    pub fn check(
        &self,
        keys: &KeyedHasher,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, SolutionRefusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(&self.nonce)
            .ok()
            .filter(|b| b.len() == NONCE_BYTES)
            .ok_or(SolutionRefusal::Forged)?;
        let (signed, tag) = bytes.split_at(NONCE_BYTES - 16);
        let expected = mac(keys, purpose, signed);
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
            return Err(SolutionRefusal::Forged);
        }
        let expires = i64::from_be_bytes(signed[..8].try_into().expect("8 bytes"));
        let expires_at = DateTime::<Utc>::from_timestamp(expires, 0).ok_or(SolutionRefusal::Forged)?;
        if expires_at <= now {
            return Err(SolutionRefusal::Expired);
        }
        let difficulty = signed[8];
        let digest = Sha256::digest(format!("{}:{}", self.nonce, self.counter).as_bytes());
        if leading_zero_bits(&digest) < u32::from(difficulty) {
            return Err(SolutionRefusal::Unsolved);
        }
        Ok(expires_at)
    }
}

fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in bytes {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyedHasher {
        KeyedHasher::new(b"test-key-0123456789abcdef0123456789")
    }

    /// What a client does: counters from 0 until the hash has enough zero bits.
    fn solve(challenge: &Challenge) -> ChallengeSolution {
        (0u64..)
            .map(|counter| ChallengeSolution {
                nonce: challenge.nonce.clone(),
                counter: counter.to_string(),
            })
            .find(|s| {
                let digest = Sha256::digest(format!("{}:{}", s.nonce, s.counter).as_bytes());
                leading_zero_bits(&digest) >= u32::from(challenge.difficulty)
            })
            .expect("a solution")
    }

    #[test]
    fn a_solution_admits_its_own_call_until_it_expires() {
        let now = Utc::now();
        let challenge = Challenge::issue(&keys(), "signIn:main:login:alice", 8, now);
        assert_eq!(challenge.expires_at, now + chrono::Duration::seconds(120));
        let solution = solve(&challenge);
        let header = format!("{}:{}", solution.nonce, solution.counter);
        assert_eq!(ChallengeSolution::parse(&header), Some(solution.clone()));
        assert!(solution.check(&keys(), "signIn:main:login:alice", now).is_ok());
        assert_eq!(
            solution.check(&keys(), "signIn:main:login:bob", now),
            Err(SolutionRefusal::Forged),
            "another target's call"
        );
        assert_eq!(
            solution.check(
                &KeyedHasher::new(b"another-key-0123456789abcdef012345"),
                "signIn:main:login:alice",
                now
            ),
            Err(SolutionRefusal::Forged)
        );
        assert_eq!(
            solution.check(
                &keys(),
                "signIn:main:login:alice",
                now + chrono::Duration::seconds(121)
            ),
            Err(SolutionRefusal::Expired)
        );
    }

    #[test]
    fn an_unsolved_or_altered_challenge_is_refused() {
        let now = Utc::now();
        let challenge = Challenge::issue(&keys(), "p", 20, now);
        // Counter 0 has 20 zero bits once in a million: find one that does not.
        let unsolved = (0u64..)
            .map(|c| ChallengeSolution {
                nonce: challenge.nonce.clone(),
                counter: c.to_string(),
            })
            .find(|s| s.check(&keys(), "p", now).is_err())
            .unwrap();
        assert_eq!(unsolved.check(&keys(), "p", now), Err(SolutionRefusal::Unsolved));
        // Lowering the difficulty in the nonce breaks its MAC.
        let mut bytes = URL_SAFE_NO_PAD.decode(&challenge.nonce).unwrap();
        bytes[8] = 0;
        let easier = ChallengeSolution {
            nonce: URL_SAFE_NO_PAD.encode(&bytes),
            counter: "0".into(),
        };
        assert_eq!(easier.check(&keys(), "p", now), Err(SolutionRefusal::Forged));
        for bad in [
            "",
            "nonce-only",
            ":1",
            "n:",
            "n:1 2",
            &format!("n:{}", "9".repeat(33)),
        ] {
            assert_eq!(ChallengeSolution::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn zero_bits_are_counted_from_the_first_byte() {
        assert_eq!(leading_zero_bits(&[0, 0, 0x0f]), 20);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 1]), 15);
    }
}
