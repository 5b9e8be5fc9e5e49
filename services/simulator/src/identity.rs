//! Issued identities: buvid3 cookies, getDanmuInfo tokens bound to (room, User-Agent, uid),
//! and the WBI keys nav publishes. Bounded: the oldest entries are forgotten first.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::signature;

/// How many buvids and tokens are remembered.
const CAP: usize = 200_000;

/// What a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Binding {
    pub room: u64,
    pub user_agent: String,
    pub uid: u64,
}

struct Inner {
    rng: StdRng,
    buvids: HashSet<String>,
    buvid_order: VecDeque<String>,
    tokens: HashMap<String, Binding>,
    token_order: VecDeque<String>,
}

/// The current WBI keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WbiKeys {
    pub img: String,
    pub sub: String,
    /// The signing key derived from both (this crate's own derivation, `signature.rs`);
    /// `None` when the keys are not 64 ASCII characters together, so nothing verifies.
    pub mixin: Option<String>,
}

impl WbiKeys {
    pub fn new(img: &str, sub: &str) -> WbiKeys {
        WbiKeys {
            img: img.to_owned(),
            sub: sub.to_owned(),
            mixin: signature::mixin(img, sub),
        }
    }
}

pub(crate) struct Identity {
    inner: Mutex<Inner>,
    keys: RwLock<WbiKeys>,
}

impl Identity {
    pub fn new(seed: u64, keys: WbiKeys) -> Identity {
        Identity {
            inner: Mutex::new(Inner {
                rng: StdRng::seed_from_u64(seed ^ 0xB0B1_D000),
                buvids: HashSet::new(),
                buvid_order: VecDeque::new(),
                tokens: HashMap::new(),
                token_order: VecDeque::new(),
            }),
            keys: RwLock::new(keys),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh (buvid3, buvid4) pair; the buvid3 is remembered as issued.
    pub fn issue_buvid(&self) -> (String, String) {
        let mut g = self.inner();
        let r: [u64; 4] = g.rng.random();
        let hex = format!("{:016X}{:016X}", r[0], r[1]);
        let b3 = format!(
            "{}-{}-{}-{}-{}{:05}infoc",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &format!("{:016X}", r[2])[..12],
            r[3] % 100_000
        );
        let b4 = format!(
            "{}-{}-{}-{}-{}{:05}-024072309-{}",
            &hex[8..16],
            &hex[0..4],
            &hex[4..8],
            &hex[20..24],
            &format!("{:016X}", r[3])[..12],
            r[2] % 100_000,
            URL_SAFE_NO_PAD.encode(r[1].to_le_bytes())
        );
        if g.buvids.insert(b3.clone()) {
            g.buvid_order.push_back(b3.clone());
            if g.buvid_order.len() > CAP
                && let Some(old) = g.buvid_order.pop_front()
            {
                g.buvids.remove(&old);
            }
        }
        (b3, b4)
    }

    pub fn knows_buvid(&self, b3: &str) -> bool {
        self.inner().buvids.contains(b3)
    }

    /// A new token for `binding` (≈190 base64url characters, like Bilibili's).
    pub fn issue_token(&self, binding: Binding) -> String {
        let mut g = self.inner();
        let mut raw = [0u8; 141];
        g.rng.fill(&mut raw[..]);
        let token = URL_SAFE_NO_PAD.encode(raw);
        g.tokens.insert(token.clone(), binding);
        g.token_order.push_back(token.clone());
        if g.token_order.len() > CAP
            && let Some(old) = g.token_order.pop_front()
        {
            g.tokens.remove(&old);
        }
        token
    }

    pub fn token(&self, token: &str) -> Option<Binding> {
        self.inner().tokens.get(token).cloned()
    }

    pub fn keys(&self) -> WbiKeys {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the WBI keys with fresh random ones (Bilibili rotates them daily).
    pub fn rotate_keys(&self) -> WbiKeys {
        let (img, sub) = {
            let mut g = self.inner();
            let r: [u64; 4] = g.rng.random();
            (
                format!("{:016x}{:016x}", r[0], r[1]),
                format!("{:016x}{:016x}", r[2], r[3]),
            )
        };
        let keys = WbiKeys::new(&img, &sub);
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys.clone();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buvid3_has_bilibili_shape() {
        let id = Identity::new(1, WbiKeys::new("a", "b"));
        let (b3, _) = id.issue_buvid();
        // XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXXNNNNNinfoc
        let parts: Vec<&str> = b3.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 22]
        );
        assert!(b3.ends_with("infoc"));
        assert!(id.knows_buvid(&b3));
        assert!(!id.knows_buvid("D9656DA8-9BEF-F464-5B72-C4849AFD336379044infoc"));
    }

    #[test]
    fn tokens_are_bound() {
        let id = Identity::new(1, WbiKeys::new("a", "b"));
        let b = Binding {
            room: 5,
            user_agent: "ua".into(),
            uid: 0,
        };
        let t = id.issue_token(b.clone());
        assert!(t.len() >= 180);
        assert_eq!(id.token(&t), Some(b));
        assert_eq!(id.token("nope"), None);
    }
}
