//! Build information for `hookgate --version`: the commit (when built from a git checkout) and the
//! build date (UTC), or SOURCE_DATE_EPOCH's date for reproducible builds.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HOOKGATE_COMMIT");
    // A build without the repository (a container build) can say the commit: HOOKGATE_COMMIT=….
    let given = std::env::var("HOOKGATE_COMMIT")
        .ok()
        .filter(|s| !s.is_empty());
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let commit = given.unwrap_or(commit);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
    println!(
        "cargo:rustc-env=HOOKGATE_COMMIT={commit}{}",
        if dirty { "-modified" } else { "" }
    );
    println!("cargo:rustc-env=HOOKGATE_BUILD_DATE={}", civil_date(epoch));
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/index");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}

/// `YYYY-MM-DD` of a Unix time (days-from-civil inverted; Howard Hinnant's algorithm).
fn civil_date(secs: i64) -> String {
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
