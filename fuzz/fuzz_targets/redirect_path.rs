//! The redirect-path policy: whatever it accepts, a browser resolving it against the portal stays
//! on the portal, and parsing what it accepted gives the same path again. An accepted path has no
//! `;` path parameters, no dot segment (even once parameters are cut), only RFC 3986 path and
//! query characters, and decodes to UTF-8 with no look-alike of `/`, `\`, `.` or `@` and no bidi
//! control. Embed treatment is decided on the parsed path only, and it stays under `/embed` once
//! a browser has resolved it.
#![no_main]

use handoff_core::redirect::is_embed_path;
use handoff_core::RedirectPath;
use libfuzzer_sys::fuzz_target;
use url::Url;

/// Look-alikes named in the security review, checked independently of the crate's table.
const LOOK_ALIKES: &[char] = &[
    '\u{2215}', '\u{2044}', '\u{ff0f}', '\u{29f8}', '\u{2571}', '\u{ff3c}', '\u{fe68}', '\u{2216}', '\u{29f5}',
    '\u{2024}', '\u{2025}', '\u{2026}', '\u{fe52}', '\u{ff0e}', '\u{ff20}', '\u{fe6b}',
];
const BIDI: &[char] = &[
    '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}',
    '\u{2067}', '\u{2068}', '\u{2069}',
];

fn decode(s: &str) -> String {
    let bytes: Vec<u8> = percent_encoding::percent_decode_str(s).collect();
    String::from_utf8(bytes).unwrap_or_else(|err| panic!("{s:?} accepted but not UTF-8: {err}"))
}

fuzz_target!(|input: &str| {
    let parsed = RedirectPath::parse(input);
    assert_eq!(is_embed_path(input), parsed.as_ref().is_ok_and(RedirectPath::is_embed), "{input:?}: embed decision");
    let Ok(path) = parsed else { return };
    let portal = Url::parse("https://portal.example:8443/base/").unwrap();
    let landing = portal.join(path.as_str()).unwrap_or_else(|err| panic!("{input:?} accepted but unjoinable: {err}"));
    assert_eq!(landing.origin(), portal.origin(), "{input:?} leaves the portal: {landing}");
    assert!(landing.username().is_empty() && landing.password().is_none(), "{input:?} sets credentials");
    assert!(landing.fragment().is_none(), "{input:?} keeps a fragment");
    assert_eq!(RedirectPath::parse(path.as_str()).as_ref(), Ok(&path), "{input:?} does not parse to itself");

    let (raw_path, query) = path.as_str().split_once('?').unwrap_or((path.as_str(), ""));
    assert!(
        raw_path.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=:@/%".contains(&b)),
        "{input:?}: a character outside RFC 3986's path set, or ';'"
    );
    assert!(
        query.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)),
        "{input:?}: a character outside RFC 3986's query set"
    );
    let decoded_path = decode(raw_path);
    let decoded_query = decode(query);
    assert!(!decoded_path.contains(';'), "{input:?}: a path parameter, encoded");
    for segment in decoded_path.split('/') {
        let cut = segment.split(';').next().unwrap_or_default();
        assert!(cut != "." && cut != "..", "{input:?}: a dot segment");
    }
    assert!(!decoded_path.chars().any(|c| LOOK_ALIKES.contains(&c) || c.is_control()), "{input:?}: a look-alike");
    assert!(!decoded_path.chars().chain(decoded_query.chars()).any(|c| BIDI.contains(&c)), "{input:?}: bidi");
    assert!(!decoded_path.starts_with("/@"), "{input:?}: a leading '@'");

    if path.is_embed() {
        // A browser (or a server that resolves dot segments the WHATWG way) lands under /embed.
        let root = Url::parse("https://portal.example/").unwrap();
        let resolved = root.join(path.as_str()).unwrap();
        let under = resolved.path() == "/embed" || resolved.path().starts_with("/embed/");
        assert!(under, "{input:?} is an embed path, but resolves to {resolved}");
    }
});
