//! Marathon's app definition as it arrives in TaskInfo.data (Marathon ≤ 1.1
//! serialises the whole app as JSON there). Only what the executor uses is
//! read; unknown fields are ignored so any Marathon version parses.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct App {
    pub id: Option<String>,
    pub cmd: Option<String>,
    pub version: Option<String>,
    /// Values are strings; Marathon ≥ 1.5 also allows `{"secret": …}`, which
    /// needs a secret store and refuses the task.
    pub env: BTreeMap<String, serde_json::Value>,
    pub container: Option<AppContainer>,
    pub labels: BTreeMap<String, String>,
    pub health_checks: Vec<AppHealthCheck>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppContainer {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub docker: Option<AppDocker>,
    pub volumes: Vec<AppVolume>,
    /// Marathon 0.5/0.6 (Deimos era): `"image": "docker:///redis"`.
    pub image: Option<String>,
    /// Marathon 0.5/0.6: `docker run` options, e.g. `["-p", "80:80"]`; not supported.
    pub options: Vec<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppDocker {
    pub image: String,
    pub network: Option<String>,
    pub port_mappings: Option<Vec<AppPortMapping>>,
    pub privileged: bool,
    pub parameters: Vec<AppParameter>,
    pub force_pull_image: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppPortMapping {
    pub container_port: u32,
    pub host_port: Option<u32>,
    pub protocol: Option<String>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct AppParameter {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppVolume {
    pub container_path: String,
    pub host_path: Option<String>,
    pub mode: Option<String>,
    /// Marathon 1.x external volumes (`"provider": "dvdi"`).
    pub external: Option<ExternalVolume>,
    /// Marathon local persistent volumes: need reservations we do not make.
    pub persistent: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct ExternalVolume {
    pub name: String,
    pub provider: Option<String>,
    pub options: std::collections::BTreeMap<String, String>,
}

/// One of the app's `healthChecks`. Marathon ≤ 1.1 ran HTTP and TCP checks
/// itself from outside and handed only COMMAND ones to Mesos; the executor
/// runs them all (see exec::health). Absent fields take Marathon's defaults
/// there, so `None` means "not written".
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AppHealthCheck {
    /// HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS or MESOS_TCP.
    pub protocol: Option<String>,
    pub path: Option<String>,
    pub port_index: Option<u32>,
    /// Marathon ≥ 1.0: a fixed port instead of `portIndex`.
    pub port: Option<u32>,
    pub command: Option<AppCommand>,
    pub grace_period_seconds: Option<f64>,
    pub interval_seconds: Option<f64>,
    pub timeout_seconds: Option<f64>,
    /// Marathon ≥ 1.4; earlier ones started checking at once.
    pub delay_seconds: Option<f64>,
    /// 0 means "never kill" in Marathon.
    pub max_consecutive_failures: Option<u32>,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct AppCommand {
    pub value: String,
}

/// Parses TaskInfo.data when it holds an app definition. Data that is not a
/// JSON object is someone else's business (`Ok(None)`); a JSON object that
/// does not fit the app shape is an error worth reporting.
pub fn parse(data: &[u8]) -> Result<Option<App>, String> {
    let trimmed = data.trim_ascii_start();
    if !trimmed.starts_with(b"{") {
        return Ok(None);
    }
    serde_json::from_slice(data)
        .map(Some)
        .map_err(|e| format!("TaskInfo.data holds JSON that is not a Marathon app definition: {e}"))
}
