//! `uinfo` / `sender_uinfo`: the user block newer commands carry next to (or instead of) their
//! flat `uid` / `uname` fields.

use serde::Deserialize;

use super::json::Int;

/// `{uid, base: {name, …}, …}`; only what stands in for missing flat fields is read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UInfo {
    pub(crate) uid: Option<Int>,
    pub(crate) base: Option<UInfoBase>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UInfoBase {
    pub(crate) name: Option<String>,
}

impl UInfo {
    pub(crate) fn name(self) -> Option<String> {
        self.base.and_then(|b| b.name)
    }
}
