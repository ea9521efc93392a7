//! NFKC_Casefold (Unicode `toNFKC_Casefold`): the one normalisation of login-ID and e-mail keys.
use icu_casemap::CaseMapper;
use icu_normalizer::ComposingNormalizer;
use icu_properties::{CodePointSetData, props::DefaultIgnorableCodePoint};

/// Passes before giving up on a fixed point. One pass settles every code point (checked against
/// the Unicode data); the bound only keeps a pathological string from looping.
const MAX_PASSES: usize = 4;

/// The key two spellings of one identifier share: compatibility forms, case and invisible
/// (default-ignorable) code points removed (`STRASSE`/`straße` → `strasse`, `ς` → `σ`, `ﬁ` → `fi`,
/// fullwidth → ASCII, U+00AD dropped). Locale-free: Turkish `İ` folds to `i` + U+0307, as Unicode
/// specifies, so one key does not depend on who typed it.
pub fn nfkc_casefold(text: &str) -> String {
    // Printable-ASCII-and-controls text maps to its ASCII lowercase: the hot path of every lookup.
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    // UAX #44 derives NFKC_Casefold by applying NFKC, case folding and the removal of
    // default-ignorables until the result is stable.
    let mut current = pass(text);
    for _ in 1..MAX_PASSES {
        let next = pass(&current);
        if next == current {
            break;
        }
        current = next;
    }
    current
}

fn pass(text: &str) -> String {
    let nfkc = ComposingNormalizer::new_nfkc();
    let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
    let folded = CaseMapper::new().fold_string(&nfkc.normalize(text)).into_owned();
    let visible: String = folded.chars().filter(|c| !ignorable.contains(*c)).collect();
    nfkc.normalize(&visible).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn table() {
        let cases = [
            ("Alice", "alice"),
            ("STRASSE", "strasse"),
            ("straße", "strasse"),
            ("Straẞe", "strasse"),
            // Final and medial sigma are one letter.
            ("ΟΔΥΣΣΕΥΣ", "οδυσσευσ"),
            ("οδυσσευς", "οδυσσευσ"),
            ("ﬁle", "file"),
            ("ＡＬＩＣＥ１２", "alice12"),
            ("ｱﾘｽ", "アリス"),
            ("홍길동", "홍길동"),
            // Conjoining jamo compose; compatibility jamo become conjoining jamo.
            ("\u{1112}\u{1169}\u{11BC}", "홍"),
            ("ㄱ", "\u{1100}"),
            // A Hangul filler is an invisible letter: dropped.
            ("a\u{3164}b", "ab"),
            // Turkish: İ folds to i + combining dot above, I to i, dotless ı stays.
            ("İstanbul", "i\u{307}stanbul"),
            ("ISTANBUL", "istanbul"),
            ("ıstanbul", "ıstanbul"),
            ("soft\u{AD}hyphen", "softhyphen"),
            ("zero\u{200B}width", "zerowidth"),
            ("e\u{301}", "é"),
            ("Ⅻ", "xii"),
            ("ǅ", "dž"),
            ("User@Example.COM", "user@example.com"),
            ("", ""),
        ];
        for (input, key) in cases {
            assert_eq!(nfkc_casefold(input), key, "{input:?}");
        }
    }

    /// The definition in the standard: each code point's NFKC_Casefold mapping, then NFC.
    fn per_code_point(text: &str) -> String {
        let mapped: String = text
            .chars()
            .map(|c| nfkc_casefold(c.encode_utf8(&mut [0; 4])))
            .collect();
        ComposingNormalizer::new_nfc().normalize(&mapped).into_owned()
    }

    proptest! {
        #[test]
        fn never_panics(text in any::<String>()) {
            let _ = nfkc_casefold(&text);
        }

        #[test]
        fn is_idempotent(text in any::<String>()) {
            let key = nfkc_casefold(&text);
            prop_assert_eq!(nfkc_casefold(&key), key);
        }

        #[test]
        fn matches_the_per_code_point_definition(text in any::<String>()) {
            prop_assert_eq!(nfkc_casefold(&text), per_code_point(&text));
        }

        #[test]
        fn is_case_blind(text in "\\PC{0,20}") {
            let key = nfkc_casefold(&text);
            prop_assert_eq!(nfkc_casefold(&text.to_uppercase()), key.clone());
            prop_assert_eq!(nfkc_casefold(&text.to_lowercase()), key);
        }

        #[test]
        fn the_ascii_shortcut_agrees_with_the_full_mapping(text in "[\\x00-\\x7f]{0,40}") {
            prop_assert_eq!(nfkc_casefold(&text), pass(&text));
        }
    }
}
