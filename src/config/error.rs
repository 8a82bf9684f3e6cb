//! Configuration errors: where (file, line, column), which key, what is wrong and what would be valid.
//!
//! `hookgate.toml:14:13: routes.github.secrets[0]: environment variable GITHUB_SECRET is not set`

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// A text the configuration was read from: the user's file, or the built-in preset table.
#[derive(Debug)]
pub struct Origin {
    pub name: String,
    pub text: String,
}

impl Origin {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Arc<Origin> {
        Arc::new(Origin {
            name: name.into(),
            text: text.into(),
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        (line, col)
    }
}

/// A place in an origin.
#[derive(Debug, Clone)]
pub struct Loc {
    pub origin: Arc<Origin>,
    pub span: Range<usize>,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (line, col) = self.origin.line_col(self.span.start);
        write!(f, "{}:{line}:{col}", self.origin.name)
    }
}

/// One configuration mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line:col`, when the mistake has a place.
    pub location: Option<String>,
    /// The key path, such as `routes.acme.verify.encoding`.
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn at(loc: &Loc, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(loc.to_string()),
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn file(file: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(file.to_string()),
            key: String::new(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every mistake found in one configuration, one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// `" (did you mean \"x\"?)"` or nothing.
pub fn suggestion<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match did_you_mean(word, candidates) {
        Some(c) => format!("; did you mean \"{c}\"?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_lines_and_columns() {
        let o = Origin::new("f.toml", "a = 1\nbb = \"é\"\n");
        assert_eq!(o.line_col(0), (1, 1));
        assert_eq!(o.line_col(6), (2, 1));
        assert_eq!(o.line_col(11), (2, 6));
        assert_eq!(o.line_col(1000), (3, 1));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(
            did_you_mean("githb", ["github", "gitlab", "stripe"]),
            Some("github")
        );
        assert_eq!(
            did_you_mean("tolerence", ["tolerance", "dedupe_ttl"]),
            Some("tolerance")
        );
        assert_eq!(did_you_mean("zzz", ["github", "stripe"]), None);
    }
}
