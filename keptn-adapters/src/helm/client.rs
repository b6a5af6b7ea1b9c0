//! The only file that runs helm, kubectl and tar, and reads or writes chart directories.
//!
//! Commands, with `--kube-context <context>` (helm) or `--context <context>` (kubectl)
//! appended when configured:
//! - `helm upgrade --install <release> <chart.tgz> --namespace <ns> --create-namespace --wait
//!   --timeout <3m0s> --reset-values --set keptn.project=.. --set keptn.stage=..
//!   --set keptn.service=.. --set keptn.deployment=.. [--set replicaCount=0]`: helm-service's
//!   install-or-upgrade with `Wait`, a 3 minute `Timeout`, `ResetValues` and its Keptn values;
//! - `helm get manifest <release> --namespace <ns>`;
//! - `helm template <release> <chart.tgz> --namespace <ns> --set ...` (dry runs);
//! - `kubectl label namespace <ns> istio-injection=enabled --overwrite` (helm-service's
//!   `InjectIstio`, before the first blue/green rollout);
//! - `tar -xzf` and `tar -czf` to unpack and pack charts.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use super::Error;
use super::generate::ChartFile;

/// How long after helm's own `--timeout` the helm process is killed.
const KILL_MARGIN: Duration = Duration::from_secs(30);
/// How long tar, `helm get` and kubectl may take.
const SHORT_TIMEOUT: Duration = Duration::from_secs(60);
/// The most stderr kept in an error message.
const MAX_STDERR: usize = 2000;

/// Runs helm, kubectl and tar.
#[derive(Debug, Clone)]
pub(super) struct Cli {
    helm: PathBuf,
    kubectl: PathBuf,
    kube_context: Option<String>,
    /// helm's `--timeout`.
    rollout_timeout: Duration,
}

impl Cli {
    pub(super) fn new(
        helm: PathBuf,
        kubectl: PathBuf,
        kube_context: Option<String>,
        rollout_timeout: Duration,
    ) -> Self {
        Self {
            helm,
            kubectl,
            kube_context,
            rollout_timeout,
        }
    }

    /// `helm upgrade --install` with `--wait`; `values` become `--set key=value`.
    pub(super) async fn upgrade(
        &self,
        release: &str,
        chart: &Path,
        namespace: &str,
        values: &[(String, String)],
    ) -> Result<(), Error> {
        let mut args = vec![
            "upgrade".to_owned(),
            "--install".to_owned(),
            release.to_owned(),
            chart.display().to_string(),
            "--namespace".to_owned(),
            namespace.to_owned(),
            "--create-namespace".to_owned(),
            "--wait".to_owned(),
            "--timeout".to_owned(),
            go_duration(self.rollout_timeout),
            "--reset-values".to_owned(),
        ];
        push_values(&mut args, values);
        self.push_helm_context(&mut args);
        self.run(&self.helm, &args, self.rollout_timeout + KILL_MARGIN)
            .await?;
        Ok(())
    }

    /// `helm get manifest`: the rendered manifest of an installed release.
    pub(super) async fn get_manifest(
        &self,
        release: &str,
        namespace: &str,
    ) -> Result<String, Error> {
        let mut args = vec![
            "get".to_owned(),
            "manifest".to_owned(),
            release.to_owned(),
            "--namespace".to_owned(),
            namespace.to_owned(),
        ];
        self.push_helm_context(&mut args);
        let stdout = self.run(&self.helm, &args, SHORT_TIMEOUT).await?;
        utf8(&self.helm, &args, stdout)
    }

    /// `helm template`: renders a chart locally, without a cluster.
    pub(super) async fn template(
        &self,
        release: &str,
        chart: &Path,
        namespace: &str,
        values: &[(String, String)],
    ) -> Result<String, Error> {
        let mut args = vec![
            "template".to_owned(),
            release.to_owned(),
            chart.display().to_string(),
            "--namespace".to_owned(),
            namespace.to_owned(),
        ];
        push_values(&mut args, values);
        self.push_helm_context(&mut args);
        let stdout = self.run(&self.helm, &args, SHORT_TIMEOUT).await?;
        utf8(&self.helm, &args, stdout)
    }

    /// Labels the namespace for Istio sidecar injection.
    pub(super) async fn inject_istio(&self, namespace: &str) -> Result<(), Error> {
        let mut args = vec![
            "label".to_owned(),
            "namespace".to_owned(),
            namespace.to_owned(),
            "istio-injection=enabled".to_owned(),
            "--overwrite".to_owned(),
        ];
        if let Some(context) = &self.kube_context {
            args.push("--context".to_owned());
            args.push(context.clone());
        }
        self.run(&self.kubectl, &args, SHORT_TIMEOUT).await?;
        Ok(())
    }

    fn push_helm_context(&self, args: &mut Vec<String>) {
        if let Some(context) = &self.kube_context {
            args.push("--kube-context".to_owned());
            args.push(context.clone());
        }
    }

    /// Runs a command; a non-zero exit is [`Error::Command`] with its stderr.
    async fn run(
        &self,
        program: &Path,
        args: &[String],
        timeout: Duration,
    ) -> Result<Vec<u8>, Error> {
        run(program, args, timeout).await
    }
}

/// Writes `archive` (a `.tgz` chart) to `dir/chart.tgz`, unpacks it into `dir/chart/` and
/// returns the chart's root: the one top-level directory that holds `Chart.yaml`.
pub(super) async fn unpack_chart(
    archive: &[u8],
    dir: &Path,
    chart: &str,
) -> Result<PathBuf, Error> {
    reset_dir(dir).await?;
    let tgz = dir.join("chart.tgz");
    write(&tgz, archive).await?;
    let unpacked = dir.join("chart");
    create_dir(&unpacked).await?;
    let args = vec![
        "-xzf".to_owned(),
        tgz.display().to_string(),
        "-C".to_owned(),
        unpacked.display().to_string(),
        "--no-same-owner".to_owned(),
    ];
    run(Path::new("tar"), &args, SHORT_TIMEOUT)
        .await
        .map_err(|error| Error::InvalidChart {
            chart: chart.to_owned(),
            reason: format!("not a .tgz archive: {error}"),
        })?;
    let mut roots = Vec::new();
    let mut entries = tokio::fs::read_dir(&unpacked)
        .await
        .map_err(io(&unpacked))?;
    while let Some(entry) = entries.next_entry().await.map_err(io(&unpacked))? {
        if entry.path().join("Chart.yaml").is_file() {
            roots.push(entry.path());
        }
    }
    match roots.as_slice() {
        [root] => Ok(root.clone()),
        [] => Err(Error::InvalidChart {
            chart: chart.to_owned(),
            reason: "no top-level directory with a Chart.yaml".to_owned(),
        }),
        _ => Err(Error::InvalidChart {
            chart: chart.to_owned(),
            reason: "several top-level directories with a Chart.yaml".to_owned(),
        }),
    }
}

/// Packs the chart directory `root` (as its own top-level directory) into the archive `out`
/// and returns the archive's bytes.
pub(super) async fn pack_chart(root: &Path, out: &Path) -> Result<Vec<u8>, Error> {
    let (Some(parent), Some(name)) = (root.parent(), root.file_name()) else {
        return Err(Error::Io {
            path: root.to_owned(),
            source: std::io::Error::other("a chart directory needs a parent and a name"),
        });
    };
    let args = vec![
        "-czf".to_owned(),
        out.display().to_string(),
        "-C".to_owned(),
        parent.display().to_string(),
        name.to_string_lossy().into_owned(),
    ];
    run(Path::new("tar"), &args, SHORT_TIMEOUT).await?;
    tokio::fs::read(out).await.map_err(io(out))
}

/// Writes a generated chart (`Chart.yaml` and templates) as `dir/<name>/` and returns that
/// directory.
pub(super) async fn write_chart(
    dir: &Path,
    name: &str,
    chart_yaml: &str,
    templates: &[ChartFile],
) -> Result<PathBuf, Error> {
    reset_dir(dir).await?;
    let root = dir.join(name);
    create_dir(&root.join("templates")).await?;
    write(&root.join("Chart.yaml"), chart_yaml.as_bytes()).await?;
    for template in templates {
        write(&root.join(&template.path), template.content.as_bytes()).await?;
    }
    Ok(root)
}

/// Reads `Chart.yaml` and `templates/*.yaml` of an unpacked chart, templates sorted by name.
pub(super) async fn read_chart(root: &Path) -> Result<(String, Vec<ChartFile>), Error> {
    let chart_yaml = read_text(&root.join("Chart.yaml")).await?;
    let templates_dir = root.join("templates");
    let mut templates = Vec::new();
    if templates_dir.is_dir() {
        let mut entries = tokio::fs::read_dir(&templates_dir)
            .await
            .map_err(io(&templates_dir))?;
        while let Some(entry) = entries.next_entry().await.map_err(io(&templates_dir))? {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.ends_with(".yaml") || file_name.ends_with(".yml") {
                templates.push(ChartFile {
                    path: format!("templates/{file_name}"),
                    content: read_text(&entry.path()).await?,
                });
            }
        }
    }
    templates.sort_by(|left, right| left.path.cmp(&right.path));
    Ok((chart_yaml, templates))
}

/// Reads a text file.
pub(super) async fn read_text(path: &Path) -> Result<String, Error> {
    tokio::fs::read_to_string(path).await.map_err(io(path))
}

/// Writes a file.
pub(super) async fn write(path: &Path, content: &[u8]) -> Result<(), Error> {
    tokio::fs::write(path, content).await.map_err(io(path))
}

async fn create_dir(path: &Path) -> Result<(), Error> {
    tokio::fs::create_dir_all(path).await.map_err(io(path))
}

/// Empties (or creates) a scratch directory.
async fn reset_dir(dir: &Path) -> Result<(), Error> {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_owned(),
                source,
            });
        }
    }
    create_dir(dir).await
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn push_values(args: &mut Vec<String>, values: &[(String, String)]) {
    for (key, value) in values {
        args.push("--set".to_owned());
        args.push(format!("{key}={value}"));
    }
}

/// A duration as Go prints it (`3m0s`, `1h0m0s`, `45s`), as helm expects for `--timeout`.
pub(super) fn go_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

fn command_line(program: &Path, args: &[String]) -> String {
    let mut res = program.display().to_string();
    for arg in args {
        res.push(' ');
        res.push_str(arg);
    }
    res
}

fn utf8(program: &Path, args: &[String], stdout: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(stdout).map_err(|_| Error::Unexpected {
        command: command_line(program, args),
        reason: "the output is not utf-8".to_owned(),
    })
}

/// Runs a command with no stdin and returns its stdout; kills it after `timeout`.
async fn run(program: &Path, args: &[String], timeout: Duration) -> Result<Vec<u8>, Error> {
    let mut command = Command::new(program);
    command
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().map_err(|source| Error::Spawn {
        program: program.to_owned(),
        source,
    })?;
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| Error::Timeout {
            command: command_line(program, args),
            timeout,
        })?
        .map_err(|source| Error::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        let stderr = if stderr.is_empty() {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        } else {
            stderr
        };
        let stderr = match stderr.char_indices().nth(MAX_STDERR) {
            Some((end, _)) => format!("{}...", &stderr[..end]),
            None => stderr,
        };
        return Err(Error::Command {
            command: command_line(program, args),
            status: output.status.to_string(),
            stderr,
        });
    }
    Ok(output.stdout)
}
