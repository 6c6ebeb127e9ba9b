//! The launcher renders what the shell renderers (scripts/lib/stack.sh and
//! deploy/gateway/entrypoint.sh, both `envsubst` with an explicit list) render.

use e2e::gateway::{self, FIXED_VARIABLES, Profile, Upstreams};
use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn the_launcher_renders_every_template_exactly_as_envsubst_does() {
    for profile in [Profile::Default, Profile::Load] {
        let upstreams = Upstreams::all("127.0.0.1:9");
        let vars = gateway::template_variables(
            &upstreams,
            std::path::Path::new("/srv/web"),
            profile,
            18080,
        )
        .unwrap();
        // The list the shell renderers pass: the fixed names and the profile's keys.
        let mut list: Vec<String> = FIXED_VARIABLES
            .iter()
            .map(|v| format!("${{{v}}}"))
            .collect();
        list.extend(
            gateway::profile_values(profile)
                .unwrap()
                .into_iter()
                .map(|(k, _)| format!("${{{k}}}")),
        );
        assert_eq!(list.len(), vars.len());

        let prefix = std::env::temp_dir().join(format!("railrush-render-{}", uuid::Uuid::new_v4()));
        let nginx_dir = gateway::repo_root().join("nginx");
        gateway::render(&nginx_dir, &prefix, &vars).unwrap();

        let mut templates = 0;
        for entry in std::fs::read_dir(&nginx_dir).unwrap() {
            let path = entry.unwrap().path();
            let Some(name) = path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .strip_suffix(".template")
            else {
                continue;
            };
            let mut child = Command::new("envsubst")
                .arg(list.join(" "))
                .env_clear()
                .envs(&vars)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("envsubst (Debian package gettext-base)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&std::fs::read(&path).unwrap())
                .unwrap();
            let expected = child.wait_with_output().unwrap().stdout;
            let rendered = if name == "nginx.conf" {
                prefix.join("conf/nginx.conf")
            } else {
                prefix.join("conf/conf.d").join(name)
            };
            let rendered = std::fs::read(rendered).unwrap();
            assert!(
                rendered == expected,
                "{name} ({}) differs from envsubst's rendering",
                profile.name()
            );
            templates += 1;
        }
        assert!(templates >= 2);
        std::fs::remove_dir_all(&prefix).unwrap();
    }
}

#[test]
fn the_shell_renderers_list_the_same_fixed_variables_as_the_launcher() {
    let mut fixed: Vec<&str> = FIXED_VARIABLES.to_vec();
    fixed.sort_unstable();
    for file in ["scripts/lib/stack.sh", "deploy/gateway/entrypoint.sh"] {
        let text = std::fs::read_to_string(gateway::repo_root().join(file)).unwrap();
        // The one line assigning the literal list, e.g. vars='${NGINX_ERROR_LOG} ...'.
        let line = text
            .lines()
            .find(|l| l.contains("='${NGINX_ERROR_LOG}"))
            .unwrap_or_else(|| panic!("{file}: no variable list"));
        let mut listed: Vec<&str> = line
            .split("${")
            .skip(1)
            .filter_map(|part| part.split_once('}').map(|(name, _)| name))
            .collect();
        listed.sort_unstable();
        assert_eq!(listed, fixed, "{file}");
    }
}
