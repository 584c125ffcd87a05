//! The Helm chart against the code: every service has a Deployment, its
//! container and Service ports are the service's configured port, its probes
//! point at that port, and every `SANSHI_*` variable a manifest sets is a
//! configuration key the service reads. The chart is rendered by the helm
//! that `scripts/check-deploy` installs (the test command runs that first).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tools() -> PathBuf {
    std::env::var_os("SANSHI_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
            cache.join("sanshi-tools")
        })
}

/// The chart rendered with `values` (files under the chart), as JSON objects;
/// `None` (announced) when helm is not installed and this is not CI.
fn render(values: &[&str]) -> Option<Vec<Value>> {
    let tools = tools();
    let (helm, python) = (tools.join("helm"), tools.join("venv/bin/python"));
    if !helm.exists() || !python.exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "helm is not installed: scripts/check-deploy installs it"
        );
        eprintln!(
            "SKIPPED: helm not installed in {} (run scripts/check-deploy)",
            tools.display()
        );
        return None;
    }
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../helm/sanshi");
    let mut helm = Command::new(helm);
    helm.args(["template", "sanshi"]).arg(&chart);
    for file in values {
        helm.arg("-f").arg(chart.join(file));
    }
    let rendered = helm.output().unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let mut to_json = Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    to_json.stdin.take().unwrap().write_all(&rendered.stdout).unwrap();
    let out = to_json.wait_with_output().unwrap();
    assert!(out.status.success());
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn defaults(service: &str) -> toml::Table {
    let text = match service {
        "identity" => identity::config::DEFAULTS,
        "qualification" => qualification::config::DEFAULTS,
        "matching" => matching::config::DEFAULTS,
        "records" => records::config::DEFAULTS,
        "incentive" => incentive::config::DEFAULTS,
        "notification" => notification::config::DEFAULTS,
        "gateway" => gateway::config::DEFAULTS,
        other => panic!("unknown service {other}"),
    };
    text.parse().unwrap()
}

/// Keys every service reads through kit that its defaults leave unset
/// (they are `Option`s): the admin port and the OTLP endpoint.
const OPTIONAL_KIT_KEYS: [(&str, &str); 2] = [("server", "admin_port"), ("telemetry", "otlp_endpoint")];

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn check(objects: &[Value]) {
    for service in sanshi::dev::SERVICES.into_iter().chain(["gateway"]) {
        let config = defaults(service);
        let port = config["server"]["port"].as_integer().unwrap();
        let name = format!("sanshi-{service}");
        let deployment = find(objects, "Deployment", &name);
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["args"][1], service, "{name} runs `sanshi serve {service}`");
        assert_eq!(container["ports"][0]["containerPort"], port, "{name}: container port");
        let svc = find(objects, "Service", &name);
        assert_eq!(svc["spec"]["ports"][0]["port"], port, "{name}: Service port");
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            let probe = &container[probe];
            if service == "gateway" {
                assert_eq!(probe["httpGet"]["path"], "/healthz", "{name}");
                assert_eq!(probe["httpGet"]["port"], "http", "{name}");
            } else {
                assert_eq!(probe["grpc"]["port"], port, "{name}: gRPC health on the service port");
            }
        }
        // Jobs (migrations) and the Deployment: every variable is a key the service reads.
        let job = objects.iter().find(|o| {
            o["kind"] == "Job"
                && o["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{name}-migrate"))
        });
        let mut variables: Vec<String> = Vec::new();
        let mut names_of = |env: &Value| {
            for var in env.as_array().into_iter().flatten() {
                variables.push(var["name"].as_str().unwrap().to_string());
            }
        };
        names_of(&container["env"]);
        if let Some(job) = job {
            names_of(&job["spec"]["template"]["spec"]["containers"][0]["env"]);
        } else {
            assert_eq!(service, "gateway", "{name}: a migration Job");
        }
        // The plain settings come from the service's ConfigMap.
        assert_eq!(container["envFrom"][0]["configMapRef"]["name"], name.as_str());
        let config_map = find(objects, "ConfigMap", &name);
        variables.extend(config_map["data"].as_object().unwrap().keys().cloned());
        assert!(
            variables.iter().any(|v| v == "SANSHI_SERVER__PORT"),
            "{name}: {variables:?}"
        );
        {
            for var in &variables {
                let (section, key) = var
                    .strip_prefix("SANSHI_")
                    .and_then(|rest| rest.split_once("__"))
                    .unwrap_or_else(|| panic!("{name}: {var} is not a SANSHI_<SECTION>__<KEY> variable"));
                let (section, key) = (section.to_lowercase(), key.to_lowercase());
                assert!(
                    OPTIONAL_KIT_KEYS.contains(&(section.as_str(), key.as_str()))
                        || config
                            .get(&section)
                            .and_then(|s| s.as_table())
                            .is_some_and(|s| s.contains_key(&key)),
                    "{name}: {var} sets {section}.{key}, which {service} does not read"
                );
            }
        }
    }
}

/// With federation on (the production-like values), the gateway's
/// variables and its peers file load as the gateway's configuration, and
/// every path in it is where the chart mounts the file.
fn federation_loads(objects: &[Value]) {
    let config_map = find(objects, "ConfigMap", "sanshi-gateway");
    let mut vars: Vec<(String, String)> = config_map["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    vars.push(("SANSHI_FEDERATION__CLIENT_SECRET".into(), "from-the-secret".into()));
    let peers = find(objects, "ConfigMap", "sanshi-gateway-federation")["data"]["peers.toml"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("peers.toml");
    std::fs::write(&file, peers).unwrap();
    let config: gateway::Config =
        kit::config::load_with_vars(gateway::config::DEFAULTS, Some(&file), "SANSHI", vars.into_iter())
            .unwrap_or_else(|e| panic!("the gateway's federation configuration: {e}"));
    let federation = &config.federation;
    assert!(federation.enabled);
    assert_eq!(federation.province_code, "50");
    assert_eq!(federation.peers.len(), 2);
    assert_eq!(federation.peers[0].allow.len(), 6);
    let deployment = find(objects, "Deployment", "sanshi-gateway");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"][3], "/etc/sanshi/federation-peers/peers.toml");
    let mounted = |path: &str| {
        container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| path.starts_with(m["mountPath"].as_str().unwrap()) && m["mountPath"] != "/tmp")
    };
    for path in [&federation.cert_path, &federation.key_path]
        .into_iter()
        .chain(federation.peers.iter().map(|p| &p.ca_path))
    {
        assert!(mounted(path), "{path} is not mounted");
    }
    let service = find(objects, "Service", "sanshi-gateway-federation");
    assert_eq!(service["spec"]["ports"][0]["port"], federation.port);
}

#[test]
fn the_chart_matches_the_code() {
    for values in [&[][..], &["ci/prod-values.yaml"][..]] {
        if let Some(objects) = render(values) {
            check(&objects);
            if !values.is_empty() {
                federation_loads(&objects);
            }
        }
    }
}
