//! Starts the real nginx gateway for tests, from the same templates, profiles and
//! substitution rules as `scripts/lib/stack.sh` (local stack) and
//! `deploy/gateway/entrypoint.sh` (containers):
//!
//! - `nginx/nginx.conf.template` becomes `<prefix>/conf/nginx.conf`, every other
//!   `nginx/<name>.template` becomes `<prefix>/conf/conf.d/<name>`;
//! - only the listed `${VAR}`s (and `$VAR`s) are replaced, exactly as
//!   `envsubst '${VAR} ...'` does ([`envsubst`]), so nginx's own `$variables` stay;
//! - the listed variables are [`FIXED_VARIABLES`] plus every `KEY=value` of the chosen
//!   profile, `nginx/profiles/<profile>.env` ([`profile_values`]).
//!
//! [`Gateway::start`] runs `nginx -g 'daemon off;'` from a private temporary prefix on a free
//! port; [`Gateway::start_with`] also replaces some variables' values (a test's slower rate).

use anyhow::{Context, Result, anyhow, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// host:port of each service, e.g. "127.0.0.1:43121".
#[derive(Clone, Debug)]
pub struct Upstreams {
    pub auth: String,
    pub train: String,
    pub booking: String,
    pub payment: String,
    pub notification: String,
}

impl Upstreams {
    /// Every service at the same address (a test's single fake upstream).
    pub fn all(addr: &str) -> Self {
        Self {
            auth: addr.to_owned(),
            train: addr.to_owned(),
            booking: addr.to_owned(),
            payment: addr.to_owned(),
            notification: addr.to_owned(),
        }
    }

    /// From base URLs such as "http://127.0.0.1:43121" (the saga `Stack`'s fields).
    pub fn from_urls(
        auth: &str,
        train: &str,
        booking: &str,
        payment: &str,
        notification: &str,
    ) -> Self {
        let host = |url: &str| {
            url.trim_start_matches("http://")
                .trim_end_matches('/')
                .to_owned()
        };
        Self {
            auth: host(auth),
            train: host(train),
            booking: host(booking),
            payment: host(payment),
            notification: host(notification),
        }
    }
}

/// The gateway profile: `default` (production limits) or `load` (limits raised for
/// benchmarks from one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Default,
    Load,
}

impl Profile {
    /// The name used by `RAILRUSH_GATEWAY_PROFILE` / `GATEWAY_PROFILE` and the profile file.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Default => "default",
            Profile::Load => "load",
        }
    }
}

/// The template variables every renderer sets besides the profile's own.
pub const FIXED_VARIABLES: [&str; 10] = [
    "NGINX_ERROR_LOG",
    "NGINX_ACCESS_LOG",
    "GATEWAY_PORT",
    "AUTH_UPSTREAM",
    "TRAIN_UPSTREAM",
    "BOOKING_UPSTREAM",
    "PAYMENT_UPSTREAM",
    "NOTIFICATION_UPSTREAM",
    "WEB_ROOT",
    "REAL_IP_FROM",
];

/// A running nginx gateway; stopped (and its prefix removed) on drop.
pub struct Gateway {
    pub port: u16,
    /// "http://127.0.0.1:<port>"
    pub url: String,
    prefix: PathBuf,
    child: Option<Child>,
}

impl Gateway {
    /// Renders nginx/*.template (the same templates start.sh and the images use) into a
    /// private temp prefix, starts `nginx -g 'daemon off;'` on a free port, waits until it
    /// listens (without sending a request, so every rate limit starts full).
    pub async fn start(upstreams: &Upstreams, web_root: &Path, profile: Profile) -> Result<Self> {
        Self::start_with(upstreams, web_root, profile, &[]).await
    }

    /// Like [`Gateway::start`], with the values of some template variables replaced, e.g.
    /// `&[("LIMIT_GENERAL_RATE", "1r/m")]`. Each name must be a variable the renderers set.
    pub async fn start_with(
        upstreams: &Upstreams,
        web_root: &Path,
        profile: Profile,
        overrides: &[(&str, &str)],
    ) -> Result<Self> {
        let nginx = nginx_binary()?;
        let prefix =
            std::env::temp_dir().join(format!("railrush-gateway-{}", uuid::Uuid::new_v4()));
        let mut gateway = Self {
            port: 0,
            url: String::new(),
            prefix,
            child: None,
        };
        // The free port is found by binding port 0 and letting it go, so another process may
        // take it before nginx binds it: nginx then exits and a new port is tried.
        for _ in 0..5 {
            let port = free_port()?;
            let mut vars = template_variables(upstreams, web_root, profile, port)?;
            for (name, value) in overrides {
                let slot = vars
                    .get_mut(*name)
                    .ok_or_else(|| anyhow!("{name} is not a template variable of the gateway"))?;
                *slot = (*value).to_owned();
            }
            render(&repo_root().join("nginx"), &gateway.prefix, &vars)?;
            gateway.port = port;
            gateway.url = format!("http://127.0.0.1:{port}");
            gateway.child = Some(spawn(&nginx, &gateway.prefix)?);
            match gateway.wait_ready().await {
                Ok(()) => return Ok(gateway),
                Err(e) if gateway.error_log().contains("Address already in use") => {
                    gateway.stop();
                    eprintln!("gateway port {port} was taken ({e}); retrying");
                }
                Err(e) => {
                    gateway.stop();
                    bail!("the gateway did not start: {e:#}\n{}", gateway.error_log());
                }
            }
        }
        bail!("the gateway found no free port in 5 attempts")
    }

    /// Stops nginx (also done on Drop, which removes the temp prefix).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SIGTERM is nginx's fast shutdown; the master stops its workers first.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// The private prefix: `conf/` (rendered configuration), `logs/`, `run/`, `temp/`.
    pub fn prefix(&self) -> &Path {
        &self.prefix
    }

    /// The error log so far (empty when there is none yet).
    pub fn error_log(&self) -> String {
        let mut log =
            std::fs::read_to_string(self.prefix.join("logs/error.log")).unwrap_or_default();
        log.push_str(
            &std::fs::read_to_string(self.prefix.join("logs/stderr.log")).unwrap_or_default(),
        );
        log
    }

    /// The access log so far, one JSON object per line.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/access.log")).unwrap_or_default()
    }

    /// Ready when nginx has written its pid file: it does so only after binding the port
    /// (a taken port makes it exit instead), so connections are then accepted and served as
    /// soon as the workers run. No request is sent, so no rate-limit allowance is used up and
    /// a test's limits start full.
    async fn wait_ready(&mut self) -> Result<()> {
        let pid_file = self.prefix.join("run/nginx.pid");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let Some(child) = self.child.as_mut() else {
                bail!("nginx is not running");
            };
            if let Some(status) = child.try_wait()? {
                bail!("nginx exited with {status}");
            }
            let pid = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if pid.trim() == child.id().to_string()
                && tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "nginx did not start listening on port {} within 15 s",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// The repository root (the e2e crate's parent directory).
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// `nginx` on the PATH, else Debian's /usr/sbin/nginx.
pub fn nginx_binary() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow!("nginx is not installed (scripts/test.sh installs it: Debian package nginx)")
        })
}

/// The `KEY=value` lines of `nginx/profiles/<profile>.env`, in file order. The format is
/// the one every renderer parses the same way: blank lines and lines starting with `#` are
/// skipped; every other line is `KEY=value` with KEY in `[A-Z][A-Z0-9_]*` and the value
/// taken literally up to the end of the line (no quotes, no spaces).
pub fn profile_values(profile: Profile) -> Result<Vec<(String, String)>> {
    let path = repo_root().join(format!("nginx/profiles/{}.env", profile.name()));
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .filter(|(key, value)| {
                is_profile_key(key) && !value.is_empty() && !value.contains([' ', '\t', '"', '\''])
            })
            .ok_or_else(|| anyhow!("{}:{}: not a KEY=value line: {line}", path.display(), n + 1))?;
        values.push((key.to_owned(), value.to_owned()));
    }
    Ok(values)
}

fn is_profile_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Every template variable with its value for a gateway on `port` (REAL_IP_FROM is
/// 127.0.0.1/32: nothing stands in front of a test gateway, as in the local stack).
pub fn template_variables(
    upstreams: &Upstreams,
    web_root: &Path,
    profile: Profile,
    port: u16,
) -> Result<BTreeMap<String, String>> {
    let web_root = web_root
        .to_str()
        .ok_or_else(|| anyhow!("the web root {} is not UTF-8", web_root.display()))?;
    let mut vars: BTreeMap<String, String> = [
        ("NGINX_ERROR_LOG", "logs/error.log"),
        ("NGINX_ACCESS_LOG", "logs/access.log"),
        ("GATEWAY_PORT", &port.to_string()),
        ("AUTH_UPSTREAM", &upstreams.auth),
        ("TRAIN_UPSTREAM", &upstreams.train),
        ("BOOKING_UPSTREAM", &upstreams.booking),
        ("PAYMENT_UPSTREAM", &upstreams.payment),
        ("NOTIFICATION_UPSTREAM", &upstreams.notification),
        ("WEB_ROOT", web_root),
        ("REAL_IP_FROM", "127.0.0.1/32"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    debug_assert_eq!(vars.len(), FIXED_VARIABLES.len());
    for (key, value) in profile_values(profile)? {
        if FIXED_VARIABLES.contains(&key.as_str()) {
            bail!("the {} profile may not set {key}", profile.name());
        }
        vars.insert(key, value);
    }
    Ok(vars)
}

/// What `envsubst '${A} ${B} ...'` does with `vars` as the environment: every `${NAME}`
/// and `$NAME` (the longest name after the dollar) whose NAME is listed is replaced by its
/// value; everything else, nginx's `$variables` included, stays as it is.
pub fn envsubst(template: &str, vars: &BTreeMap<String, String>) -> String {
    let is_start = |c: u8| c.is_ascii_alphabetic() || c == b'_';
    let is_name = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let bytes = template.as_bytes();
    let mut out = String::with_capacity(template.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        let braced = bytes.get(i + 1) == Some(&b'{');
        let start = if braced { i + 2 } else { i + 1 };
        let mut end = start;
        if bytes.get(start).copied().is_some_and(is_start) {
            end += 1;
            while bytes.get(end).copied().is_some_and(is_name) {
                end += 1;
            }
        }
        let closed = !braced || bytes.get(end) == Some(&b'}');
        let value = (end > start && closed)
            .then(|| vars.get(&template[start..end]))
            .flatten();
        match value {
            Some(value) => {
                out.push_str(&template[copied..i]);
                out.push_str(value);
                i = if braced { end + 1 } else { end };
                copied = i;
            }
            None => i += 1,
        }
    }
    out.push_str(&template[copied..]);
    out
}

/// Renders the templates of `template_dir` into `prefix` (the layout of the entrypoint).
pub fn render(template_dir: &Path, prefix: &Path, vars: &BTreeMap<String, String>) -> Result<()> {
    let conf = prefix.join("conf");
    let conf_d = conf.join("conf.d");
    for dir in [
        &conf_d,
        &prefix.join("logs"),
        &prefix.join("run"),
        &prefix.join("temp"),
    ] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // As root nginx runs its workers as an unprivileged user, which must reach temp/.
    for dir in [prefix, &prefix.join("temp")] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))?;
    }
    for entry in std::fs::read_dir(&conf_d)? {
        std::fs::remove_file(entry?.path())?;
    }
    let mut rendered = 0;
    for entry in std::fs::read_dir(template_dir)? {
        let path = entry?.path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".template"))
        else {
            continue;
        };
        let out = if name == "nginx.conf" {
            conf.join(name)
        } else {
            conf_d.join(name)
        };
        let template = std::fs::read_to_string(&path)?;
        let text = envsubst(&template, vars);
        if let Some(at) = text.find("${") {
            let line = text[..at].lines().count();
            bail!(
                "{}: line {line} uses a variable no renderer sets",
                path.display()
            );
        }
        std::fs::write(&out, text)?;
        rendered += 1;
    }
    if rendered == 0 {
        bail!("no templates in {}", template_dir.display());
    }
    Ok(())
}

fn spawn(nginx: &Path, prefix: &Path) -> Result<Child> {
    // A fresh log per attempt, so a failure is judged by this attempt's messages only.
    let _ = std::fs::remove_file(prefix.join("logs/error.log"));
    let stderr = std::fs::File::create(prefix.join("logs/stderr.log"))?;
    let mut prefix_arg = prefix.as_os_str().to_owned();
    prefix_arg.push("/");
    Command::new(nginx)
        .arg("-p")
        .arg(prefix_arg)
        .arg("-e")
        .arg(prefix.join("logs/error.log"))
        .arg("-c")
        .arg(prefix.join("conf/nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("starting {}", nginx.display()))
}

fn free_port() -> Result<u16> {
    // nginx listens on every address, so the port must be free on 0.0.0.0.
    let listener = std::net::TcpListener::bind(("0.0.0.0", 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn envsubst_replaces_only_listed_variables_like_gnu_envsubst() {
        // Expected output produced by `FOO=1 BAR=2 envsubst '${FOO}'`.
        let input = "a $FOO b ${FOO} c $FOOX d ${FOO e $BAR ${BAR} $$FOO \\$FOO $host ${";
        let expected = "a 1 b 1 c $FOOX d ${FOO e $BAR ${BAR} $1 \\1 $host ${";
        assert_eq!(envsubst(input, &vars(&[("FOO", "1")])), expected);
    }

    #[test]
    fn both_profiles_set_the_same_variables() {
        let keys = |p| {
            profile_values(p)
                .unwrap()
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        };
        let default = keys(Profile::Default);
        assert!(!default.is_empty());
        assert_eq!(default, keys(Profile::Load));
    }
}
