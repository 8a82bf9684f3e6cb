//! Provider presets: what each vendor's webhooks look like, as data.
//!
//! `presets.toml` holds one table per vendor in the same vocabulary as a route in `hookgate.toml`
//! (`[verify]`, `[event]`, `[status]`, `tolerance`, ...), plus a title, a documentation link and
//! optional aliases. A route that names a preset gets those settings and can override any one of them.
//! Adding a vendor whose scheme the vocabulary already covers is adding a table here, not code.
//! This module only loads the table; `config` interprets it.

use crate::config::error::Origin;
use crate::config::raw::{RawPreset, RawRoute, S};
use crate::config::{ConfigError, ConfigErrors, deserialize};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The preset table as shipped in the binary.
pub const SOURCE: &str = include_str!("presets.toml");
/// How the preset table is named in messages.
pub const SOURCE_NAME: &str = "src/presets/presets.toml";

pub struct Preset {
    pub name: String,
    pub title: String,
    pub docs: String,
    pub aliases: Vec<String>,
    pub notes: Option<String>,
    /// The vendor's retry schedule in words, with where it is documented.
    pub retries: Option<String>,
    /// The preset this one starts from, if any.
    pub base: Option<S<String>>,
    /// The vendor's settings, in the route vocabulary.
    pub route: RawRoute,
    /// The table's own text in `presets.toml`, for `hookgate providers show`.
    pub text: String,
    /// The addresses the vendor publishes as its webhooks' sources, when it does.
    pub source_ips: Option<SourceIps>,
}

/// A vendor's published source addresses, for `allow_ips = "preset"`: built in, as of a date, or
/// where to fetch them.
#[derive(Debug, Clone)]
pub struct SourceIps {
    pub list: SourceList,
    /// Where the vendor publishes them, for people.
    pub published: String,
    /// Where the vendor publishes them in a form `allow_ips = "url:…"` reads.
    pub url: Option<String>,
}

impl SourceIps {
    /// What `allow_ips = "preset"` admits, in a sentence.
    pub fn describe(&self) -> String {
        let url = self.url.as_deref().unwrap_or_default();
        match &self.list {
            SourceList::BuiltIn { nets, as_of } => {
                let current = match &self.url {
                    Some(u) => format!(
                        ", allow_ips = \"url:{u}\" the list fetched from there and kept current"
                    ),
                    None => String::new(),
                };
                format!(
                    "Source addresses: {} published at {} (the built-in list is of {as_of}); allow_ips = \"preset\" admits only them{current}.",
                    nets.len(),
                    self.published,
                )
            }
            SourceList::Fetched { .. } => format!(
                "Source addresses: published at {}, and the vendor asks that they be fetched rather than copied; allow_ips = \"preset\" admits those fetched from {url}, kept current.",
                self.published
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub enum SourceList {
    BuiltIn {
        nets: Vec<ipnet::IpNet>,
        as_of: jiff::civil::Date,
    },
    /// The vendor asks that its list be fetched rather than copied (it changes without notice):
    /// `allow_ips = "preset"` fetches it from `url` (and `pointer`, in a JSON document).
    Fetched {
        url: http::Uri,
        pointer: Option<String>,
    },
}

/// A built-in list of source addresses older than this makes `check` warn: vendors change them
/// (Stripe with seven days' notice on a mailing list), and a stale list refuses genuine deliveries.
pub const SOURCE_IPS_STALE_DAYS: i32 = 180;

fn source_ips(
    name: &str,
    raw: crate::config::raw::RawSourceIps,
) -> Result<SourceIps, ConfigErrors> {
    let origin = Origin::new(SOURCE_NAME, SOURCE);
    let mut errors = ConfigErrors::default();
    let mut nets = Vec::new();
    for (i, a) in raw.addresses.iter().enumerate() {
        match crate::client_ip::parse_net(a.get_ref()) {
            Ok(n) => nets.push(n),
            Err(m) => errors.push(ConfigError::at(
                &crate::config::error::Loc {
                    origin: origin.clone(),
                    span: a.span(),
                },
                format!("{name}.source_ips.addresses[{i}]"),
                m,
            )),
        }
    }
    let fail = |m: String| ConfigError::file(SOURCE_NAME, format!("{name}.source_ips{m}"));
    let fetched = match raw
        .url
        .as_ref()
        .map(|u| crate::config::layer::list_url(u.get_ref()))
    {
        Some(Ok((url, pointer))) => Some(SourceList::Fetched { url, pointer }),
        Some(Err(m)) => {
            errors.push(fail(format!(".url: {m}")));
            None
        }
        None => None,
    };
    let list = match (&raw.as_of, nets.is_empty()) {
        (Some(as_of), false) => match as_of.get_ref().parse::<jiff::civil::Date>() {
            Ok(as_of) => Some(SourceList::BuiltIn { nets, as_of }),
            Err(_) => {
                let m = format!(
                    ".as_of: \"{}\" is not a date like \"2026-05-15\"",
                    as_of.get_ref()
                );
                errors.push(fail(m));
                None
            }
        },
        (None, false) => {
            errors.push(fail(
                ".as_of: not set; say when the addresses were taken".to_string(),
            ));
            None
        }
        (_, true) if raw.addresses.is_empty() && raw.url.is_some() => fetched,
        (_, true) => {
            if raw.addresses.is_empty() {
                errors.push(fail(": lists no address and names no url".to_string()));
            }
            None
        }
    };
    match list {
        Some(list) if errors.is_empty() => Ok(SourceIps {
            list,
            published: raw.published,
            url: raw.url.map(|u| u.into_inner()),
        }),
        _ => Err(errors),
    }
}

pub struct Table {
    pub origin: Arc<Origin>,
    pub presets: Vec<Preset>,
}

/// The parsed table (parsed once).
pub fn table() -> Result<&'static Table, &'static ConfigErrors> {
    static TABLE: OnceLock<Result<Table, ConfigErrors>> = OnceLock::new();
    TABLE.get_or_init(load).as_ref()
}

fn load() -> Result<Table, ConfigErrors> {
    let origin = Origin::new(SOURCE_NAME, SOURCE);
    let raw: BTreeMap<String, S<RawPreset>> = deserialize(&origin)?;
    let sections = sections(SOURCE);
    let mut presets = Vec::with_capacity(raw.len());
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, preset) in raw {
        let mut preset = preset.into_inner();
        for n in std::iter::once(&name).chain(&preset.aliases) {
            if let Some(other) = seen.insert(n.clone(), name.clone()) {
                return Err(ConfigError::file(
                    SOURCE_NAME,
                    format!("preset name \"{n}\" is used by both \"{other}\" and \"{name}\""),
                )
                .into());
            }
        }
        let text = sections.get(name.as_str()).cloned().unwrap_or_default();
        let ips = match preset.source_ips.take() {
            Some(raw) => Some(source_ips(&name, raw)?),
            None => None,
        };
        presets.push(Preset {
            source_ips: ips,
            route: preset.take_route(),
            base: preset.base.take(),
            title: preset.title,
            docs: preset.docs,
            aliases: preset.aliases,
            notes: preset.notes,
            retries: preset.retries,
            name,
            text,
        });
    }
    Ok(Table { origin, presets })
}

/// Splits the file into each preset's text: a `[name]` header (preset names have no dots) starts a
/// preset, and its `[name.verify]`-style sub-tables and comments follow it until the next one.
fn sections(source: &str) -> BTreeMap<&str, String> {
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    let mut current: Option<&str> = None;
    for line in source.lines() {
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'))
            && !header.contains('.')
        {
            current = Some(header);
        }
        if let Some(name) = current {
            let text = out.entry(name).or_default();
            text.push_str(line);
            text.push('\n');
        }
    }
    for text in out.values_mut() {
        let end = text.trim_end().len();
        text.truncate(end);
        text.push('\n');
    }
    out
}

/// The canonical name for a preset name or alias.
pub fn canonical(name: &str) -> Option<&'static str> {
    let table = table().ok()?;
    table
        .presets
        .iter()
        .find(|p| p.name == name || p.aliases.iter().any(|a| a == name))
        .map(|p| p.name.as_str())
}

pub fn find(name: &str) -> Option<&'static Preset> {
    let canonical = canonical(name)?;
    table().ok()?.presets.iter().find(|p| p.name == canonical)
}

/// Every preset name and alias, for suggestions.
pub fn names() -> impl Iterator<Item = &'static str> {
    table()
        .ok()
        .into_iter()
        .flat_map(|t| t.presets.iter())
        .flat_map(|p| std::iter::once(p.name.as_str()).chain(p.aliases.iter().map(String::as_str)))
}

/// What a route naming the preset must add besides an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// Verifies with the vendor's public key rather than a shared secret, and the preset has none
    /// built in.
    pub public_key: bool,
    /// Verifies with the key the vendor publishes for everyone, which the preset holds: the route
    /// needs no key of its own.
    pub key_built_in: bool,
    /// Signs the URL the vendor calls.
    pub public_url: bool,
    /// A handshake compares a value with the route's `verify_token`.
    pub verify_token: bool,
    /// Tokens are checked against keys the vendor publishes, so the route names its audience and
    /// its sender.
    pub token_audience: bool,
    /// Keys are fetched from the vendor (no secret or public key to set), with these request fields.
    pub fetched_keys: Option<Vec<String>>,
}

/// What a route using preset `name` must add.
pub fn needs(name: &str) -> Needs {
    use crate::verify::Piece;
    let layer = crate::config::preset_layers()
        .as_ref()
        .ok()
        .and_then(|l| l.get(name));
    let v = layer.map(|l| &l.verify);
    let algorithm = v.and_then(|v| v.algorithm.as_ref()).map(|a| a.value);
    let fetched = v.is_some_and(|v| v.jwks_url.is_some() || v.key_url.is_some());
    let jwt_public = !fetched
        && v.and_then(|v| v.jwt_algorithm.as_ref()).is_some_and(|a| {
            !matches!(
                a.value,
                jsonwebtoken::Algorithm::HS256
                    | jsonwebtoken::Algorithm::HS384
                    | jsonwebtoken::Algorithm::HS512
            )
        });
    let payload = v.and_then(|v| v.payload.as_ref()).map(|p| &p.value);
    let key_built_in = layer.is_some_and(|l| l.public_key.is_some());
    Needs {
        public_key: (algorithm.and_then(|a| a.key_kind()).is_some() || jwt_public) && !key_built_in,
        key_built_in,
        public_url: payload.is_some_and(|p| p.uses(&Piece::Url) || p.uses(&Piece::Path))
            || v.is_some_and(|v| v.jwt_query_hash_claim.is_some()),
        verify_token: layer
            .and_then(|l| l.handshake.as_ref())
            .is_some_and(|h| h.value.iter().any(|s| s.token.is_some())),
        token_audience: v.is_some_and(|v| v.jwks_url.is_some()),
        fetched_keys: fetched.then(|| {
            v.and_then(|v| v.key_request_fields.as_ref())
                .map(|f| f.value.clone())
                .unwrap_or_default()
        }),
    }
}

/// The placeholder URL `as_route_toml` writes for presets that sign the URL.
pub const EXAMPLE_URL: &str = "https://hooks.example.com/webhooks/";

/// A preset as a route table a user can paste into `hookgate.toml` and edit: the vendor's settings
/// under `[routes.NAME]`, with placeholders for what only the user knows.
pub fn as_route_toml(p: &Preset) -> String {
    let mut out = route_head(p, "http://127.0.0.1:9000/events");
    out.push_str("# The preset's settings follow; any of them can be changed here.\n");
    if let Some(base) = &p.base {
        out.push_str(&format!(
            "# They add to those of the \"{b}\" preset (`hookgate providers show {b}`).\n",
            b = base.get_ref()
        ));
    }
    let meta = ["title", "docs", "aliases", "notes", "base", "retries"];
    // The published source addresses are the preset's, not a route key: `allow_ips = "preset"`.
    let ips_table = format!("[{}.source_ips]", p.name);
    let mut skipping = false;
    for line in p.text.lines().skip(1) {
        if line.starts_with('[') {
            skipping = line.trim() == ips_table;
        }
        let key = line.split('=').next().unwrap_or("").trim();
        if skipping || meta.contains(&key) {
            continue;
        }
        match (line.strip_prefix("[["), line.strip_prefix('[')) {
            (Some(header), _) => out.push_str(&format!("[[routes.{header}\n")),
            (None, Some(header)) => out.push_str(&format!("[routes.{header}\n")),
            (None, None) => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The environment variables a route of preset `p` reads, as `route_head` writes them: its secret
/// (or public key), and its verify token when a handshake compares one.
pub fn variables(p: &Preset) -> Vec<String> {
    let var = env_prefix(&p.name);
    let needs = needs(&p.name);
    let mut vars = match (&needs.fetched_keys, needs.public_key) {
        (Some(fields), _) => fields
            .iter()
            .map(|f| format!("{var}_{}", env_prefix(f)))
            .collect(),
        (None, _) if needs.key_built_in => Vec::new(),
        (None, true) => vec![format!("{var}_PUBLIC_KEY")],
        (None, false) => vec![format!("{var}_SECRET")],
    };
    if needs.verify_token {
        vars.push(format!("{var}_VERIFY_TOKEN"));
    }
    vars
}

/// `stripe-connect` → `STRIPE_CONNECT`: the prefix of a preset's environment variables.
fn env_prefix(name: &str) -> String {
    name.to_uppercase().replace('-', "_")
}

/// The part of a route that only its user can write, for preset `p`: the comments on the vendor,
/// `[routes.NAME]`, the provider, the secret (or key, URL, token) as `${VAR}` references, and
/// `upstream`.
pub fn route_head(p: &Preset, upstream: &str) -> String {
    let var = env_prefix(&p.name);
    let needs = needs(&p.name);
    let mut out = format!("# {} — {}\n", p.title, p.docs);
    if let Some(ips) = &p.source_ips {
        out.push_str(&format!("# {}\n", ips.describe()));
    }
    if let Some(notes) = &p.notes {
        out.push_str(&format!("# {notes}\n"));
    }
    if let Some(retries) = &p.retries {
        out.push_str(&format!(
            "# Retries: {retries}. Ids are remembered for at least retry_horizon and a tenth (dedupe_ttl is raised to that), so every retry still finds its event.\n"
        ));
    }
    out.push_str(&format!("[routes.{}]\nprovider = \"{}\"\n", p.name, p.name));
    match (&needs.fetched_keys, needs.public_key) {
        (Some(fields), _) if fields.is_empty() => {}
        (Some(fields), _) => {
            let pairs: Vec<String> = fields
                .iter()
                .map(|f| format!("{f} = \"${{{var}_{}}}\"", env_prefix(f)))
                .collect();
            out.push_str(&format!(
                "key_request = {{ {} }}  # what the vendor's key endpoint asks for\n",
                pairs.join(", ")
            ));
        }
        (None, _) if needs.key_built_in => out.push_str(
            "# The vendor's published key is built in; a public_key here would replace it.\n",
        ),
        (None, true) => out.push_str(&format!("public_key = [\"${{{var}_PUBLIC_KEY}}\"]\n")),
        (None, false) => out.push_str(&format!("secrets = [\"${{{var}_SECRET}}\"]\n")),
    }
    if needs.public_url {
        out.push_str(&format!(
            "public_url = \"{EXAMPLE_URL}{}\"  # the URL the vendor calls, exactly as registered\n",
            p.name
        ));
    }
    if needs.verify_token {
        out.push_str(&format!("verify_token = \"${{{var}_VERIFY_TOKEN}}\"\n"));
    }
    if needs.token_audience {
        out.push_str(&format!(
            "jwt_audience = \"{EXAMPLE_URL}{}\"  # the audience the vendor puts in your tokens\n\
             jwt_require_claims = {{ sub = \"SENDER\" }}  # the claims that name your sender (see the notes)\n",
            p.name
        ));
    }
    out.push_str(&format!("upstream = \"{upstream}\"\n"));
    out
}

/// The providers page, generated from the table (`hookgate providers --markdown`).
pub fn markdown(table: &Table) -> String {
    use crate::config::route::builtin;
    use crate::verify::source::alternatives;
    let layers = crate::config::preset_layers().as_ref().ok();
    let mut out = format!(
        "# Providers\n\n\
         {} presets. Generated by `hookgate providers --markdown` from `src/presets/presets.toml`; a test \
         checks that this page matches the table. Use a preset with `provider = \"NAME\"` in a route; \
         `hookgate providers show NAME` prints it as TOML to paste and edit. Without an event id the \
         SHA-256 of the body (which the signature covers) is the id; tolerances marked * are hookgate's \
         default. *Refusals* are the statuses a vendor asks for when a signature or timestamp is refused \
         (otherwise 401 and 400); *notes* say why a tolerance is what it is and how the vendor retries.\n\n\
         | name | vendor | signature | scheme | signed time | tolerance | event id | refusals | answered by hookgate | notes | docs |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        table.presets.len()
    );
    for p in &table.presets {
        let layer = layers.and_then(|l| l.get(&p.name));
        let v = layer.map(|l| &l.verify);
        let cell = |s: Option<String>| s.unwrap_or_else(|| "—".to_string()).replace('|', "\\|");
        let code = |s: String| format!("`{s}`");
        let mut carriers: Vec<String> = v
            .and_then(|v| v.header.as_ref())
            .map(|h| h.value.iter().map(|n| code(n.to_string())).collect())
            .unwrap_or_default();
        if let Some(s) = v.and_then(|v| v.signature.as_ref()) {
            carriers.extend(s.value.iter().map(|s| code(s.to_string())));
        }
        let mut carriers = carriers.join(", ");
        if let Some(prefix) = v.and_then(|v| v.prefix.as_ref()) {
            carriers.push_str(&format!(" (prefix `{}`)", prefix.value));
        }
        let status = layer.map(|l| &l.status).and_then(|s| {
            let parts: Vec<String> = [("signature", &s.signature), ("timestamp", &s.timestamp)]
                .into_iter()
                .filter_map(|(what, code)| {
                    code.as_ref()
                        .map(|c| format!("{what} {}", c.value.as_u16()))
                })
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        });
        let ips = p.source_ips.as_ref().map(SourceIps::describe);
        let notes = [
            p.notes.clone(),
            p.retries.as_ref().map(|r| format!("Retries: {r}.")),
            ips,
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let scheme = v.and_then(|v| v.algorithm.as_ref()).map(|a| {
            let alg = a.value;
            if alg.signs_template() {
                let enc = v
                    .and_then(|v| v.encoding.as_ref())
                    .map_or("hex", |e| e.value.name());
                format!("{} ({enc})", alg.name())
            } else if let Some(j) = v.and_then(|v| v.jwt_algorithm.as_ref()) {
                format!("{} ({:?})", alg.name(), j.value)
            } else {
                alg.name().to_string()
            }
        });
        let timestamp = v.and_then(|v| v.timestamp.as_ref());
        let tolerance = timestamp.map(|_| match layer.and_then(|l| l.tolerance.as_ref()) {
            Some(t) => humantime::format_duration(t.value).to_string(),
            None => format!("{}*", humantime::format_duration(builtin::TOLERANCE)),
        });
        let id = layer
            .and_then(|l| l.event.id.as_ref())
            .map(|s| code(alternatives(&s.value)));
        let handshakes = layer.and_then(|l| l.handshake.as_ref()).map(|h| {
            h.value
                .iter()
                .map(|s| match &s.when {
                    Some((source, Some(equals))) => format!("{} {source} = {equals}", s.method),
                    Some((source, None)) => format!("{} with {source}", s.method),
                    None => s.method.to_string(),
                })
                .collect::<Vec<_>>()
                .join("; ")
        });
        let mut name = code(p.name.clone());
        for a in &p.aliases {
            name.push_str(&format!(", `{a}`"));
        }
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            cell(Some(p.title.clone())),
            cell((!carriers.is_empty()).then_some(carriers)),
            cell(scheme),
            cell(timestamp.map(|t| code(alternatives(&t.value)))),
            cell(tolerance),
            cell(id),
            cell(status),
            cell(handshakes),
            cell((!notes.is_empty()).then_some(notes)),
            cell(Some(p.docs.clone())),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_cites_a_public_page_or_names_the_vendors_own() {
        // docs/providers.md is read outside this repository: a docs entry is a public https:// page,
        // or the title of a vendor document this repository does not hold, said as such.
        for p in &table().unwrap().presets {
            let ok = (p.docs.starts_with("https://") && !p.docs.contains(' '))
                || p.docs.ends_with(", the vendor's webhook documentation");
            assert!(ok, "{}: docs = {:?}", p.name, p.docs);
            for text in [Some(&p.docs), p.notes.as_ref(), p.retries.as_ref()]
                .into_iter()
                .flatten()
            {
                assert!(
                    !text.contains(".txt"),
                    "{}: points at a file: {text}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn the_table_parses_and_every_preset_checks() {
        let table = table().unwrap_or_else(|e| panic!("{e}"));
        assert!(!table.presets.is_empty());
        if let Err(e) = crate::config::preset_layers() {
            panic!("preset table has errors:\n{e}");
        }
    }

    #[test]
    fn names_are_lower_case_with_hyphens() {
        for name in names() {
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
        }
    }

    #[test]
    fn each_preset_has_its_own_text() {
        for p in &table().unwrap().presets {
            assert!(
                p.text.starts_with(&format!("[{}]", p.name)),
                "{}: {:?}",
                p.name,
                p.text
            );
            let other_header = p
                .text
                .lines()
                .filter(|l| l.starts_with('['))
                .find(|l| !l.trim_start_matches('[').starts_with(&p.name));
            assert_eq!(other_header, None, "{} swallowed another preset", p.name);
        }
    }

    #[test]
    fn the_providers_page_is_generated_from_the_table() {
        let page = include_str!("../../docs/providers.md");
        let generated = markdown(table().unwrap());
        assert!(
            page == generated,
            "docs/providers.md is out of date; run `cargo run -- providers --markdown > docs/providers.md`"
        );
    }

    #[test]
    fn aliases_resolve_to_their_preset() {
        assert_eq!(canonical("svix"), Some("standard-webhooks"));
        assert_eq!(canonical("standard-webhooks"), Some("standard-webhooks"));
        assert_eq!(canonical("nope"), None);
    }
}

#[cfg(test)]
mod vectors;
