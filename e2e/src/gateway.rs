//! Starts the real nginx gateway for tests, rendered by `nginx/render.sh`: the one renderer
//! of the templates, run by the local stack (`scripts/lib/stack.sh`) and the gateway image
//! (`deploy/gateway/entrypoint.sh`) too, so a test runs exactly the configuration production
//! renders. The script owns the rules (which variables are substituted, the profiles'
//! format, the prefix's layout); this module only supplies the values, as environment
//! variables of the script.
//!
//! [`Gateway::start`] runs `nginx -g 'daemon off;'` from a private temporary prefix on a free
//! port; [`Gateway::start_with`] also replaces some variables' values (a test's slower rate).

use anyhow::{Context, Result, anyhow, bail};
use std::ffi::OsString;
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

/// A running nginx gateway; stopped (and its prefix removed) on drop.
pub struct Gateway {
    pub port: u16,
    /// "http://127.0.0.1:<port>"
    pub url: String,
    prefix: PathBuf,
    child: Option<Child>,
}

impl Gateway {
    /// Renders nginx/*.template with nginx/render.sh (as start.sh and the image do) into a
    /// private temp prefix, starts `nginx -g 'daemon off;'` on a free port, waits until it
    /// listens (without sending a request, so every rate limit starts full).
    pub async fn start(upstreams: &Upstreams, web_root: &Path, profile: Profile) -> Result<Self> {
        Self::start_with(upstreams, web_root, profile, &[]).await
    }

    /// Like [`Gateway::start`], with the values of some template variables replaced, e.g.
    /// `&[("LIMIT_GENERAL_RATE", "1r/m")]`, passed to render.sh in its environment. Each name
    /// must be a variable the gateway is rendered with: one this module sets or a key of the
    /// profile.
    pub async fn start_with(
        upstreams: &Upstreams,
        web_root: &Path,
        profile: Profile,
        overrides: &[(&str, &str)],
    ) -> Result<Self> {
        let nginx = nginx_binary()?;
        let profile_keys: Vec<String> = profile_values(profile)?
            .into_iter()
            .map(|(key, _)| key)
            .collect();
        let fixed = fixed_variables(upstreams, web_root, 0);
        for (name, _) in overrides {
            let known = fixed.iter().any(|(fixed, _)| fixed == name)
                || profile_keys.iter().any(|key| key == name);
            if !known {
                bail!("{name} is not a template variable of the gateway");
            }
        }
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
            let mut vars = fixed_variables(upstreams, web_root, port);
            vars.extend(
                overrides
                    .iter()
                    .map(|(name, value)| (*name, OsString::from(value))),
            );
            render(profile, &gateway.prefix, &vars)?;
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

/// The `KEY=value` lines of `nginx/profiles/<profile>.env`, in file order, as
/// `nginx/render.sh --values` reads them (the values a gateway of that profile is rendered
/// with when no override is given).
pub fn profile_values(profile: Profile) -> Result<Vec<(String, String)>> {
    let stdout = run_render_script(
        &[OsString::from("--values"), OsString::from(profile.name())],
        &[],
    )?;
    String::from_utf8(stdout)
        .context("nginx/render.sh --values printed something that is not UTF-8")?
        .lines()
        .map(|line| {
            line.split_once('=')
                .map(|(key, value)| (key.to_owned(), value.to_owned()))
                .ok_or_else(|| anyhow!("nginx/render.sh --values printed {line:?}"))
        })
        .collect()
}

/// The values of the variables the gateway's caller sets (render.sh's fixed list) for a test
/// gateway on `port`: every log under the prefix, no TRUSTED_PROXIES (nothing stands in front
/// of a test gateway, as in the local stack: X-Forwarded-For is never read; a test that plays
/// the proxy overrides it, e.g. `("TRUSTED_PROXIES", "127.0.0.1")`).
fn fixed_variables<'a>(
    upstreams: &Upstreams,
    web_root: &Path,
    port: u16,
) -> Vec<(&'a str, OsString)> {
    vec![
        ("NGINX_ERROR_LOG", "logs/error.log".into()),
        ("NGINX_ACCESS_LOG", "logs/access.log".into()),
        ("GATEWAY_PORT", port.to_string().into()),
        ("AUTH_UPSTREAM", upstreams.auth.clone().into()),
        ("TRAIN_UPSTREAM", upstreams.train.clone().into()),
        ("BOOKING_UPSTREAM", upstreams.booking.clone().into()),
        ("PAYMENT_UPSTREAM", upstreams.payment.clone().into()),
        (
            "NOTIFICATION_UPSTREAM",
            upstreams.notification.clone().into(),
        ),
        ("WEB_ROOT", web_root.as_os_str().to_owned()),
        ("TRUSTED_PROXIES", "".into()),
    ]
}

/// Renders the templates into `prefix` with `nginx/render.sh <profile> <prefix>`, `vars` as
/// its environment (later entries win).
fn render(profile: Profile, prefix: &Path, vars: &[(&str, OsString)]) -> Result<()> {
    run_render_script(
        &[
            OsString::from(profile.name()),
            prefix.as_os_str().to_owned(),
        ],
        vars,
    )
    .map(drop)
}

/// Runs `sh nginx/render.sh ARGS` with only PATH and `vars` in its environment (so nothing
/// the test process happens to have, a stray LIMIT_* say, changes what is rendered) and
/// returns its standard output; its standard error is the error when it fails.
fn run_render_script(args: &[OsString], vars: &[(&str, OsString)]) -> Result<Vec<u8>> {
    let script = repo_root().join("nginx/render.sh");
    let output = Command::new("sh")
        .arg(&script)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .envs(vars.iter().map(|(name, value)| (*name, value)))
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running sh {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "sh {} {:?} failed ({}): {}",
            script.display(),
            args,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
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

    #[test]
    fn render_sh_renders_the_values_given_and_the_profile_for_the_rest() {
        let prefix = std::env::temp_dir().join(format!("railrush-render-{}", uuid::Uuid::new_v4()));
        let mut vars =
            fixed_variables(&Upstreams::all("127.0.0.1:9"), Path::new("/srv/web"), 18080);
        vars.push(("LIMIT_GENERAL_RATE", "1r/m".into()));
        render(Profile::Default, &prefix, &vars).unwrap();
        let conf = std::fs::read_to_string(prefix.join("conf/conf.d/railrush.conf")).unwrap();
        std::fs::remove_dir_all(&prefix).unwrap();
        assert!(conf.contains("zone=general:10m rate=1r/m;"), "{conf}");
        let seats = profile_values(Profile::Default)
            .unwrap()
            .into_iter()
            .find(|(key, _)| key == "LIMIT_SEATS_RATE")
            .unwrap()
            .1;
        assert!(
            conf.contains(&format!("zone=seats:10m   rate={seats};")),
            "{conf}"
        );
        assert!(conf.contains("listen 18080 reuseport;"), "{conf}");
        assert!(conf.contains("root \"/srv/web\";"), "{conf}");
    }
}
