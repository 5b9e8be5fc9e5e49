//! WBI signing against the published test vectors (spec §1.3) and the real nav reply, and the
//! simulator's side: verifying what a client signed.

use bilipulse_bilibili::wbi::{self, MIXIN_KEY_ENC_TAB, WbiError};
use bilipulse_testkit::fixtures;

const IMG_KEY: &str = "7cd084941338484aae1ad9425b84077c";
const SUB_KEY: &str = "4932caff0ff746eab6f01bf08b70ac45";
const MIXIN: &str = "ea1db124af3c7062474693fa704f4ff8";

#[test]
fn the_table_is_a_permutation_of_0_to_63() {
    let mut seen = [false; 64];
    for &i in &MIXIN_KEY_ENC_TAB {
        assert!(
            !std::mem::replace(&mut seen[usize::from(i)], true),
            "{i} twice"
        );
    }
}

#[test]
fn mixin_key_matches_the_published_vector() {
    assert_eq!(wbi::mixin_key(IMG_KEY, SUB_KEY), MIXIN);
    // Malformed keys give a short key, not a panic.
    assert_eq!(wbi::mixin_key("", ""), "");
    assert!(wbi::mixin_key("abc", "").len() <= 3);
}

#[test]
fn keys_come_from_the_real_anonymous_nav_reply() {
    let Some(dir) = fixtures::dir() else { return };
    let nav = fixtures::json(&dir.join("http/x_web-interface_nav.anonymous.json"));
    let img_url = nav["data"]["wbi_img"]["img_url"].as_str().unwrap();
    let sub_url = nav["data"]["wbi_img"]["sub_url"].as_str().unwrap();
    let img = wbi::key_from_url(img_url).unwrap();
    let sub = wbi::key_from_url(sub_url).unwrap();
    // The key is the file name without extension.
    assert!(
        img_url.ends_with(&format!("/{img}.png")),
        "{img_url} → {img}"
    );
    assert!(
        sub_url.ends_with(&format!("/{sub}.png")),
        "{sub_url} → {sub}"
    );
    assert_eq!(img.len(), 32);
    assert_eq!(wbi::mixin_key(img, sub).len(), 32);
}

#[test]
fn key_from_url_handles_odd_urls() {
    assert_eq!(
        wbi::key_from_url("https://i0.hdslb.com/bfs/wbi/abc.png?x=1#f"),
        Some("abc")
    );
    assert_eq!(wbi::key_from_url("abc.png"), Some("abc"));
    assert_eq!(wbi::key_from_url("https://host/dir/noext"), Some("noext"));
    assert_eq!(wbi::key_from_url("https://host/dir/"), None);
    assert_eq!(wbi::key_from_url(""), None);
}

#[test]
fn signature_matches_the_published_vector() {
    let params = [
        ("foo", "114".to_owned()),
        ("bar", "514".to_owned()),
        ("zab", "1919810".to_owned()),
    ];
    let signed = wbi::sign(&params, MIXIN, 1702204169i64);
    assert_eq!(signed.w_rid(), "8f6f2b5b3d485fe1886cec6a0be8c5d4");
    assert_eq!(signed.wts(), 1702204169);
    assert_eq!(
        signed.query(),
        "bar=514&foo=114&wts=1702204169&zab=1919810&w_rid=8f6f2b5b3d485fe1886cec6a0be8c5d4"
    );
    let pairs = signed.pairs();
    assert!(pairs.contains(&("wts".into(), "1702204169".into())));
    assert!(pairs.contains(&("w_rid".into(), "8f6f2b5b3d485fe1886cec6a0be8c5d4".into())));
    assert_eq!(pairs.len(), 5);
}

#[test]
fn values_are_encoded_like_encode_uri_component() {
    let params = [
        ("foo", "one one four".to_owned()),
        ("bar", "五一四".to_owned()),
        ("baz", "1919810".to_owned()),
    ];
    let signed = wbi::sign(&params, MIXIN, 1702204169i64);
    let expected =
        "bar=%E4%BA%94%E4%B8%80%E5%9B%9B&baz=1919810&foo=one%20one%20four&wts=1702204169";
    assert!(
        signed.query().starts_with(&format!("{expected}&w_rid=")),
        "{}",
        signed.query()
    );
    // Unreserved characters stay, others are upper-case %XX, and !'()* vanish from values.
    let signed = wbi::sign(&[("k", "a-_.~b/c&d=e!'()*f".to_owned())], MIXIN, 1i64);
    assert!(
        signed.query().starts_with("k=a-_.~b%2Fc%26d%3Def&wts=1&"),
        "{}",
        signed.query()
    );
}

#[test]
fn what_the_client_signs_the_simulator_accepts() {
    let params = [
        ("id", "14073662"),
        ("type", "0"),
        ("web_location", "444.8"),
        ("q", "a (b)!"),
    ];
    let signed = wbi::sign(&params, MIXIN, 1_780_000_000u64);
    // A server sees the decoded pairs in whatever order the URL had them.
    let mut received = signed.pairs();
    received.reverse();
    assert_eq!(wbi::verify(&received, MIXIN), Ok(()));
    // Both the published vector and our own output verify.
    let vector: Vec<(String, String)> = [
        ("foo", "114"),
        ("bar", "514"),
        ("zab", "1919810"),
        ("wts", "1702204169"),
        ("w_rid", "8f6f2b5b3d485fe1886cec6a0be8c5d4"),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(wbi::verify(&vector, MIXIN), Ok(()));
}

#[test]
fn tampered_or_incomplete_requests_are_refused() {
    let signed = wbi::sign(&[("id", "1017")], MIXIN, 1_780_000_000i64);
    let good = signed.pairs();
    let set = |k: &str, v: &str| -> Vec<(String, String)> {
        good.iter()
            .map(|(a, b)| (a.clone(), if a == k { v.to_owned() } else { b.clone() }))
            .collect()
    };
    let without = |k: &str| -> Vec<(String, String)> {
        good.iter().filter(|(a, _)| a != k).cloned().collect()
    };

    assert!(matches!(
        wbi::verify(&set("id", "1018"), MIXIN),
        Err(WbiError::Mismatch { .. })
    ));
    assert!(matches!(
        wbi::verify(&set("wts", "1780000001"), MIXIN),
        Err(WbiError::Mismatch { .. })
    ));
    let mut extra = good.clone();
    extra.push(("room".into(), "1".into()));
    assert!(matches!(
        wbi::verify(&extra, MIXIN),
        Err(WbiError::Mismatch { .. })
    ));
    assert!(matches!(
        wbi::verify(&good, &MIXIN.replace('e', "f")),
        Err(WbiError::Mismatch { .. })
    ));
    assert_eq!(
        wbi::verify(&without("w_rid"), MIXIN),
        Err(WbiError::MissingWRid)
    );
    assert_eq!(
        wbi::verify(&without("wts"), MIXIN),
        Err(WbiError::MissingWts)
    );
    assert_eq!(
        wbi::verify(&set("wts", "soon"), MIXIN),
        Err(WbiError::BadWts("soon".into()))
    );
}

#[test]
fn caller_supplied_wts_and_w_rid_are_replaced() {
    let signed = wbi::sign(&[("wts", "1"), ("w_rid", "x"), ("a", "b")], MIXIN, 2i64);
    let pairs = signed.pairs();
    assert_eq!(pairs.iter().filter(|(k, _)| k == "wts").count(), 1);
    assert_eq!(pairs.iter().filter(|(k, _)| k == "w_rid").count(), 1);
    assert_eq!(signed.wts(), 2);
    assert_eq!(wbi::verify(&pairs, MIXIN), Ok(()));
}
