//! The redirect-path policy: whatever it accepts, a browser resolving it against the portal stays
//! on the portal, and parsing what it accepted gives the same path again.
#![no_main]

use handoff_core::RedirectPath;
use libfuzzer_sys::fuzz_target;
use url::Url;

fuzz_target!(|input: &str| {
    let Ok(path) = RedirectPath::parse(input) else { return };
    let portal = Url::parse("https://portal.example:8443/base/").unwrap();
    let landing = portal.join(path.as_str()).unwrap_or_else(|err| panic!("{input:?} accepted but unjoinable: {err}"));
    assert_eq!(landing.origin(), portal.origin(), "{input:?} leaves the portal: {landing}");
    assert!(landing.username().is_empty() && landing.password().is_none(), "{input:?} sets credentials");
    assert!(landing.fragment().is_none(), "{input:?} keeps a fragment");
    assert_eq!(RedirectPath::parse(path.as_str()).as_ref(), Ok(&path), "{input:?} does not parse to itself");
});
