//! The language of messages and mails, chosen from `Accept-Language` (Korean or English).

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Ko,
}

impl Lang {
    /// Picks the highest-weighted supported language of an `Accept-Language` header; English when
    /// none is supported.
    pub fn from_accept_language(header: Option<&str>) -> Lang {
        let Some(header) = header else { return Lang::En };
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.trim().split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "ko" => Lang::Ko,
                "en" => Lang::En,
                _ => continue,
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_by_weight_and_defaults_to_english() {
        let cases = [
            (None, Lang::En),
            (Some(""), Lang::En),
            (Some("ko"), Lang::Ko),
            (Some("ko-KR,ko;q=0.9,en-US;q=0.8"), Lang::Ko),
            (Some("en-US,en;q=0.9,ko;q=0.8"), Lang::En),
            (Some("fr, ko;q=0.5"), Lang::Ko),
            (Some("fr, de"), Lang::En),
            (Some("en;q=0.2, ko;q=0.7"), Lang::Ko),
            (Some("ko;q=0"), Lang::En),
            (Some(";;;,,q=abc"), Lang::En),
        ];
        for (header, want) in cases {
            assert_eq!(Lang::from_accept_language(header), want, "{header:?}");
        }
    }
}
