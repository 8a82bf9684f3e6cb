//! `hookgate init VENDOR…`: a commented starting configuration for the vendors named, with every
//! secret as a `${VAR}` reference, queued delivery on the embedded store, and each route printing its
//! events until it is pointed at a service.

use super::EX_USAGE;
use crate::presets::{self, Preset};
use std::path::Path;
use std::process::ExitCode;

pub(crate) fn init(
    vendors: &[String],
    output: &Path,
    force: bool,
    upstream: Option<&str>,
) -> ExitCode {
    if let Some(url) = upstream
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        eprintln!(
            "hookgate: --upstream {url} is not an http:// or https:// URL; write it like http://billing.internal/events"
        );
        return ExitCode::from(EX_USAGE);
    }
    let mut chosen: Vec<&'static Preset> = Vec::new();
    let mut unknown = false;
    for name in vendors {
        match presets::find(name) {
            Some(p) if chosen.iter().any(|c| c.name == p.name) => {}
            Some(p) => chosen.push(p),
            None => {
                eprintln!(
                    "hookgate: unknown provider \"{name}\"{}; run `hookgate providers` for the list",
                    crate::config::error::suggestion(name, presets::names())
                );
                unknown = true;
            }
        }
    }
    if unknown {
        return ExitCode::from(EX_USAGE);
    }
    let text = starting_config(&chosen, upstream);
    if output == Path::new("-") {
        super::emit(&text);
        return ExitCode::SUCCESS;
    }
    if output.exists() && !force {
        eprintln!(
            "hookgate: {} exists; choose another file with --output, or --force to replace it",
            output.display()
        );
        return ExitCode::from(EX_USAGE);
    }
    if let Err(e) = std::fs::write(output, &text) {
        eprintln!("hookgate: cannot write {}: {e}", output.display());
        return ExitCode::FAILURE;
    }
    let file = output.display();
    eprintln!(
        "wrote {file} with the route{} {}",
        plural(&chosen),
        names(&chosen)
    );
    let vars = variables(&chosen);
    eprintln!("next:");
    eprintln!(
        "  export {}   # the vendors' signing secrets or keys",
        vars.iter()
            .map(|v| format!("{v}=..."))
            .collect::<Vec<_>>()
            .join(" ")
    );
    eprintln!("  hookgate check --config {file}");
    eprintln!("  hookgate serve --config {file}");
    for p in &chosen {
        eprintln!(
            "  register http://YOUR-HOST:8080/webhooks/{} with {} (hookgate send --config {file} --route {} FILE tries it first)",
            p.name, p.title, p.name
        );
    }
    ExitCode::SUCCESS
}

fn plural(chosen: &[&Preset]) -> &'static str {
    if chosen.len() == 1 { "" } else { "s" }
}

fn names(chosen: &[&Preset]) -> String {
    chosen
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The environment variables the configuration reads, in the order of its routes.
fn variables(chosen: &[&Preset]) -> Vec<String> {
    chosen.iter().flat_map(|p| presets::variables(p)).collect()
}

/// The file `init` writes; each route delivers to `upstream` + `/` + its name, or prints its events.
pub(crate) fn starting_config(chosen: &[&Preset], upstream: Option<&str>) -> String {
    let mut out = format!(
        r#"# hookgate configuration for {names}, written by `hookgate init`.
# Check it:  hookgate check --config THIS_FILE   (add --no-secrets where the secrets are not set)
# Run it:    hookgate serve --config THIS_FILE
# Every key is described in the README's configuration reference; `hookgate providers show NAME`
# prints a vendor's full settings, any of which a route can change.

[server]
# Where vendors POST. On a public host use "0.0.0.0:8080", or keep loopback behind a reverse proxy
# and list it in trusted_proxies so that allow_ips sees the vendor's address.
listen = "127.0.0.1:8080"
# trusted_proxies = ["10.0.0.0/8"]

[admin]
# Metrics (/metrics), health (/healthz, /readyz), the inspector (/ui/), events and replay. Keep it on
# loopback, or set token = "${{HOOKGATE_ADMIN_TOKEN}}" before listening anywhere else.
listen = "127.0.0.1:8079"

[store]
# The embedded store (one file, no other service): every accepted event waits here until its
# upstream has it, and delivered ids are remembered across restarts. Relative to this file; in
# production /var/lib/hookgate. Several replicas share a Redis instead: kind = "redis".
path = "hookgate-data"
retention = "72h"        # delivered events kept for `hookgate events` and the inspector
max_size = "10GiB"       # beyond it vendors are answered 503 (they retry) until space returns

[defaults]
# "queued": the vendor is answered once the event is stored, and hookgate delivers it with retries.
# "direct": the event is forwarded while the vendor waits, and the vendor gets the upstream's answer.
delivery = "queued"
forward_timeout = "5s"
"#,
        names = names(chosen)
    );
    for p in chosen {
        out.push('\n');
        let target = match upstream {
            Some(base) => {
                out.push_str(
                    "# upstream: where the CloudEvent goes (\"stdout\" prints it instead).\n",
                );
                format!("{}/{}", base.trim_end_matches('/'), p.name)
            }
            None => {
                out.push_str(
                    "# upstream: where the CloudEvent goes. \"stdout\" prints it; point it at your service,\n\
                     # such as \"http://billing.internal/events\".\n",
                );
                "stdout".to_string()
            }
        };
        out.push_str(&presets::route_head(p, &target));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Secrets};

    #[test]
    fn the_starting_config_is_valid_for_every_preset_and_reads_only_references() {
        // Every preset at once: each route's head must be a valid route once its secret is set, and
        // nothing but ${VAR} references may stand where a secret goes.
        let all: Vec<&Preset> = presets::table().unwrap().presets.iter().collect();
        let text = starting_config(&all, None);
        let checked = config::parse_with("hookgate.toml", &text, &|_| None, Secrets::Skip);
        let checked = checked.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.routes.len(), all.len());
        assert!(
            checked
                .routes
                .iter()
                .all(|r| r.upstream.to_string() == "stdout")
        );
        // Without the secrets, each one missing is named, and only those are errors.
        let errors = config::parse("hookgate.toml", &text, &|_| None).unwrap_err();
        for e in &errors.0 {
            assert!(e.message.starts_with("environment variable "), "{e}");
        }
        let vars = variables(&all);
        assert_eq!(errors.len(), vars.len(), "{errors}");
        for v in &vars {
            assert!(errors.to_string().contains(v.as_str()), "{v}");
        }
        // With --upstream, every route delivers there, under its own name.
        let text = starting_config(&all[..2], Some("http://events.internal:9000/hooks/"));
        let checked = config::parse_with("hookgate.toml", &text, &|_| None, Secrets::Skip).unwrap();
        let want: Vec<String> = all[..2]
            .iter()
            .map(|p| format!("http://events.internal:9000/hooks/{}", p.name))
            .collect();
        let got: Vec<String> = checked
            .routes
            .iter()
            .map(|r| r.upstream.to_string())
            .collect();
        assert_eq!(got, want);
    }
}
