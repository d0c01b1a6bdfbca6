//! The deployment artefacts under `deploy/` stay true to the binary they deploy.
//!
//! Nothing compiles the image definition, the compose file, the Kubernetes manifests, the
//! systemd unit or the README, so a renamed flag or a removed configuration key would first
//! show as a gateway that does not start in production. These tests read every file under
//! `deploy/` and check that
//!
//! - every `tongban` command that runs there parses with the real command line
//!   ([`tongban_gateway::cli::Cli`]), and every `` `tongban …` `` quoted in prose or comments
//!   names subcommands and flags that exist;
//! - every configuration (`*.toml`, and the TOML a ConfigMap carries) parses with the real
//!   configuration type, which refuses unknown keys, and holds no PostgreSQL password;
//! - every `TONGBAN_` variable mentioned is one the binary reads;
//! - the image is built with the toolchain pinned in `rust-toolchain.toml`.
//!
//! Where commands are found: `Exec*=` lines of systemd units; the Containerfile's final
//! `ENTRYPOINT` with its `CMD`, `HEALTHCHECK`, and exec-form `RUN` (shell-form `RUN` names
//! `tongban` as a cargo target, not a command); the `entrypoint`, `command` and
//! `healthcheck.test` of compose services; the `command`, `args` and exec probes of Kubernetes
//! containers; shell code blocks in Markdown. A container of the `tongban` image without its
//! own entrypoint runs the Containerfile's. In shell text (`sh -c` scripts, code blocks,
//! `CMD-SHELL`) a command is a `tongban` one when that word is in command position, follows
//! `--` (`kubectl exec … -- tongban …`), or follows the image in `docker run`/`podman run`.
//!
//! YAML is read by a small reader of the block style these files are written in (mappings,
//! sequences, flow sequences of double-quoted strings, literal block scalars, `---`). It
//! refuses anything else by name, so a file it cannot read fails the test instead of being
//! skipped, and the table [`EXPECTED_COMMANDS`] makes sure each artefact still yields its
//! commands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use regex::Regex;
use tongban_gateway::cli::Cli;
use tongban_gateway::config::Config;

/// The image the artefacts build and run.
const IMAGE: &str = "tongban";

/// Every environment variable the binary reads, and where it reads it. A new variable in the
/// gateway is added here when the artefacts start setting it.
const VARIABLES: &[(&str, &str)] = &[
    (
        "TONGBAN_STORE_URL",
        "gateway/src/config.rs, Config::load: replaces [store] url",
    ),
    (
        "TONGBAN_LOG",
        "gateway/src/cli.rs, init_logging: the log filter",
    ),
    (
        "TONGBAN_LOG_FORMAT",
        "gateway/src/cli.rs, init_logging: `json` for JSON lines",
    ),
    (
        "TONGBAN_TOKEN",
        "gateway/src/audit_cli.rs, Source::token: `tongban audit … --token`",
    ),
];

/// Artefacts and the fewest `tongban` commands that run in each, so that a change in how
/// one is written cannot quietly take it out of the check.
const EXPECTED_COMMANDS: &[(&str, usize)] = &[
    // ExecStart.
    ("systemd/tongban.service", 1),
    // ENTRYPOINT with CMD, and the smoke run of the binary in the runtime stage.
    ("container/Containerfile", 2),
    // gateway-1, gateway-2, setup, the Ballista scheduler and two executors.
    ("compose/compose.yaml", 6),
    ("kubernetes/deployment.yaml", 1),
    ("kubernetes/setup-job.yaml", 1),
    // init, serve, init under systemd-run, the demo image, audit verify through kubectl.
    ("README.md", 5),
];

/// Directories an operator fills on the host (secrets, TLS keys) and never commits, as
/// `deploy/compose/.gitignore` says; they are not artefacts, and the test does not read them.
const LOCAL_ONLY: &[&str] = &["compose/secrets", "compose/tls"];

/// Configurations that must be found (a ConfigMap counts once per TOML entry).
const EXPECTED_CONFIGS: &[&str] = &[
    "config/embedded.toml",
    "config/production.toml",
    "compose/tongban.toml",
    "kubernetes/configmap.yaml",
];

#[test]
fn every_tongban_command_in_deploy_parses_with_the_real_command_line() -> anyhow::Result<()> {
    let artefacts = Artefacts::read()?;
    let mut problems = Vec::new();
    for command in &artefacts.commands {
        let checked = if command.runs {
            parses(&command.args)
        } else {
            names_exist(&command.args)
        };
        if let Err(e) = checked {
            problems.push(format!(
                "{}: `tongban {}`: {e}",
                command.place,
                command.args.join(" ")
            ));
        }
    }
    for (file, fewest) in EXPECTED_COMMANDS {
        let found = artefacts
            .commands
            .iter()
            .filter(|c| c.runs && c.file == *file)
            .count();
        if found < *fewest {
            problems.push(format!(
                "{file}: found {found} `tongban` commands, expected at least {fewest}"
            ));
        }
    }
    fail_on(&problems)
}

#[test]
fn every_configuration_in_deploy_parses_with_the_real_configuration_type() -> anyhow::Result<()> {
    let artefacts = Artefacts::read()?;
    let mut problems = Vec::new();
    for config in &artefacts.configs {
        match toml::from_str::<Config>(&config.toml) {
            Ok(parsed) => {
                if has_password(parsed.store.url.expose()) {
                    problems.push(format!(
                        "{}: the store URL holds a password; it belongs in TONGBAN_STORE_URL",
                        config.place
                    ));
                }
            }
            Err(e) => problems.push(format!("{}: {}", config.place, e.message())),
        }
    }
    for file in EXPECTED_CONFIGS {
        if !artefacts.configs.iter().any(|c| c.file == *file) {
            problems.push(format!("{file}: no configuration found"));
        }
    }
    fail_on(&problems)
}

#[test]
fn every_tongban_variable_in_deploy_is_one_the_binary_reads() -> anyhow::Result<()> {
    let artefacts = Artefacts::read()?;
    let variable = Regex::new(r"\bTONGBAN_[A-Z0-9_]*[A-Z0-9]\b")?;
    let mut problems = Vec::new();
    let mut seen = 0;
    for (file, text) in &artefacts.files {
        for (n, line) in text.lines().enumerate() {
            for found in variable.find_iter(line) {
                seen += 1;
                if !VARIABLES.iter().any(|(name, _)| *name == found.as_str()) {
                    problems.push(format!(
                        "{file}:{}: {} is not read by the binary",
                        n + 1,
                        found.as_str()
                    ));
                }
            }
        }
    }
    if seen == 0 {
        problems.push("no TONGBAN_ variable found under deploy/".into());
    }
    fail_on(&problems)
}

#[test]
fn the_image_is_built_with_the_pinned_toolchain() -> anyhow::Result<()> {
    let artefacts = Artefacts::read()?;
    let path = workspace().join("rust-toolchain.toml");
    let pinned: toml::Value = toml::from_str(&std::fs::read_to_string(&path)?)?;
    let channel = pinned
        .get("toolchain")
        .and_then(|t| t.get("channel"))
        .and_then(toml::Value::as_str)
        .context("rust-toolchain.toml has no toolchain.channel")?;
    assert_eq!(
        artefacts.rust_version.as_deref(),
        Some(channel),
        "ARG RUST_VERSION of deploy/container/Containerfile"
    );
    Ok(())
}

fn fail_on(problems: &[String]) -> anyhow::Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "deploy/ is out of step with the binary:\n{}",
            problems.join("\n")
        )
    }
}

/// Whether the user part of a URL carries a password (`scheme://user:password@host`).
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .is_some_and(|(user, _)| user.contains(':'))
}

/// Parses a command line as the binary would; `--help` and `--version` count as parsed.
fn parses(args: &[String]) -> Result<(), String> {
    let argv = std::iter::once("tongban").chain(args.iter().map(String::as_str));
    match Cli::try_parse_from(argv) {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => Ok(()),
        Err(e) => Err(e.to_string().lines().next().unwrap_or_default().to_owned()),
    }
}

/// Checks only that the subcommands and flags of a command named in prose exist, since prose
/// may leave out required arguments ("`tongban init` seeds the store" has no `--dir`).
fn names_exist(args: &[String]) -> Result<(), String> {
    let root = Cli::command();
    let mut current = &root;
    let mut positional = false;
    for word in args {
        if let Some(long) = word.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            let known = matches!(name, "help" | "version")
                || current.get_arguments().any(|a| a.get_long() == Some(name));
            if !known {
                return Err(format!("`{}` has no --{name}", current.get_name()));
            }
        } else if word.starts_with('-') {
            let known = word.chars().skip(1).all(|c| {
                matches!(c, 'h' | 'V') || current.get_arguments().any(|a| a.get_short() == Some(c))
            });
            if !known {
                return Err(format!("`{}` has no {word}", current.get_name()));
            }
        } else if !positional {
            if let Some(sub) = current.find_subcommand(word) {
                current = sub;
            } else if current.has_subcommands() {
                return Err(format!("`{}` has no subcommand {word}", current.get_name()));
            } else {
                positional = true;
            }
        }
    }
    Ok(())
}

/// A `tongban` command found in an artefact.
struct Found {
    /// The file, relative to `deploy/`.
    file: String,
    /// `file:line`.
    place: String,
    /// The arguments after the program.
    args: Vec<String>,
    /// A command that runs (parsed whole), or one quoted in prose (names checked).
    runs: bool,
}

/// A configuration found in an artefact.
struct FoundConfig {
    file: String,
    place: String,
    toml: String,
}

/// What the files under `deploy/` contain.
struct Artefacts {
    /// Every file, relative to `deploy/`, with its text.
    files: Vec<(String, String)>,
    commands: Vec<Found>,
    configs: Vec<FoundConfig>,
    /// `ARG RUST_VERSION` of the Containerfile.
    rust_version: Option<String>,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives inside the workspace")
        .to_path_buf()
}

impl Artefacts {
    fn read() -> anyhow::Result<Artefacts> {
        let root = workspace().join("deploy");
        let skip: Vec<PathBuf> = LOCAL_ONLY.iter().map(|d| root.join(d)).collect();
        let mut paths = Vec::new();
        walk(&root, &skip, &mut paths)?;
        paths.sort();
        let mut files = Vec::new();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let relative = path
                .strip_prefix(&root)?
                .to_str()
                .context("file names under deploy/ are UTF-8")?
                .to_owned();
            files.push((relative, text));
        }
        let mut artefacts = Artefacts {
            files: Vec::new(),
            commands: Vec::new(),
            configs: Vec::new(),
            rust_version: None,
        };
        // The image's entrypoint and command first: compose services and Kubernetes
        // containers of the image run them unless they say otherwise.
        let mut image = None;
        for (file, text) in &files {
            if name_of(file) == "Containerfile" {
                if image.is_some() {
                    bail!("more than one Containerfile under deploy/");
                }
                image = Some(artefacts.containerfile(file, text)?);
            }
        }
        let image = image.context("no Containerfile under deploy/")?;
        for (file, text) in &files {
            let name = name_of(file);
            if name.ends_with(".service") {
                artefacts.systemd(file, text);
            } else if name.ends_with(".toml") {
                artefacts.configs.push(FoundConfig {
                    file: file.clone(),
                    place: file.clone(),
                    toml: text.clone(),
                });
            } else if name.ends_with(".yaml") || name.ends_with(".yml") {
                artefacts
                    .yaml(file, text, &image)
                    .map_err(|e| anyhow::anyhow!("deploy/{file}: {e}"))?;
            } else if name.ends_with(".md") {
                artefacts.markdown(file, text);
            }
            artefacts.quoted(file, text)?;
        }
        artefacts.files = files;
        Ok(artefacts)
    }

    fn found(&mut self, file: &str, line: usize, argv: &[String]) {
        for args in tongban_commands(argv) {
            self.commands.push(Found {
                file: file.to_owned(),
                place: format!("{file}:{line}"),
                args,
                runs: true,
            });
        }
    }

    /// `Exec*=` lines; systemd's prefixes (`-`, `@`, `:`, `+`, `!`) are not part of the path.
    fn systemd(&mut self, file: &str, text: &str) {
        for (line, instruction) in logical_lines(text) {
            let Some((key, value)) = instruction.split_once('=') else {
                continue;
            };
            if key.trim().starts_with("Exec") {
                let value = value.trim_start_matches(['-', '@', ':', '+', '!']);
                for (_, words) in shell_commands(value, line) {
                    self.found(file, line, &words);
                }
            }
        }
    }

    /// The instructions that run commands, and the final stage's entrypoint and command.
    fn containerfile(&mut self, file: &str, text: &str) -> anyhow::Result<Image> {
        let mut entrypoint: Option<(usize, Vec<String>)> = None;
        let mut cmd = Vec::new();
        for (line, instruction) in logical_lines(text) {
            let (keyword, rest) = instruction
                .trim()
                .split_once(char::is_whitespace)
                .unwrap_or((instruction.trim(), ""));
            let rest = rest.trim();
            match keyword.to_ascii_uppercase().as_str() {
                "FROM" => {
                    entrypoint = None;
                    cmd.clear();
                }
                "ARG" => {
                    if let Some(version) = rest.strip_prefix("RUST_VERSION=") {
                        self.rust_version = Some(version.to_owned());
                    }
                }
                "ENTRYPOINT" => entrypoint = Some((line, exec_or_shell(rest)?)),
                "CMD" => cmd = exec_or_shell(rest)?,
                "RUN" if rest.starts_with('[') => self.found(file, line, &exec_or_shell(rest)?),
                "HEALTHCHECK" => {
                    let mut probe = rest;
                    while probe.starts_with("--") {
                        probe = probe
                            .split_once(char::is_whitespace)
                            .map_or("", |(_, after)| after.trim_start());
                    }
                    if let Some(probe) = probe.strip_prefix("CMD") {
                        self.found(file, line, &exec_or_shell(probe.trim())?);
                    }
                }
                _ => {}
            }
        }
        let (line, entrypoint) = entrypoint.context("the Containerfile has no ENTRYPOINT")?;
        let argv: Vec<String> = entrypoint.iter().chain(&cmd).cloned().collect();
        self.found(file, line, &argv);
        Ok(Image { entrypoint, cmd })
    }

    fn yaml(&mut self, file: &str, text: &str, image: &Image) -> Result<(), String> {
        let nodes = read_yaml(text)?;
        let docs = nodes.iter().map(|n| n.doc + 1).max().unwrap_or(0);
        for doc in 0..docs {
            let yaml = Yaml { nodes: &nodes, doc };
            if yaml.scalar(&["kind"])?.as_deref() == Some("ConfigMap") {
                for node in yaml.nodes() {
                    if node.path.len() == 2
                        && node.path[0] == "data"
                        && node.path[1].ends_with(".toml")
                    {
                        self.configs.push(FoundConfig {
                            file: file.to_owned(),
                            place: format!("{file}:{} ({})", node.line, node.path[1]),
                            toml: unquote(&node.text)?,
                        });
                    }
                }
            }
            for service in yaml.children(&["services"]) {
                let at = |key: &str| vec!["services".to_owned(), service.clone(), key.to_owned()];
                let argv = image.argv(
                    yaml.scalar(&at("image"))?.as_deref(),
                    yaml.list(&at("entrypoint"))?,
                    yaml.list(&at("command"))?,
                );
                let line = yaml.line(&at("command")).or(yaml.line(&at("entrypoint")));
                self.found(file, line.or(yaml.line(&at("image"))).unwrap_or(0), &argv);
                let test = [at("healthcheck"), vec!["test".to_owned()]].concat();
                if let Some(test) = yaml.list(&test)? {
                    let line = yaml.line(&[at("healthcheck"), vec!["test".to_owned()]].concat());
                    self.found(file, line.unwrap_or(0), &healthcheck_argv(&test));
                }
            }
            for container in yaml.containers() {
                let at = |keys: &[&str]| {
                    let mut path = container.clone();
                    path.extend(keys.iter().map(|k| (*k).to_owned()));
                    path
                };
                let argv = image.argv(
                    yaml.scalar(&at(&["image"]))?.as_deref(),
                    yaml.list(&at(&["command"]))?,
                    yaml.list(&at(&["args"]))?,
                );
                let line = yaml.line(&at(&["command"])).or(yaml.line(&at(&["args"])));
                self.found(
                    file,
                    line.or(yaml.line(&at(&["image"]))).unwrap_or(0),
                    &argv,
                );
                for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
                    let path = at(&[probe, "exec", "command"]);
                    if let Some(argv) = yaml.list(&path)? {
                        self.found(file, yaml.line(&path).unwrap_or(0), &argv);
                    }
                }
            }
        }
        Ok(())
    }

    /// Shell code blocks (```` ```sh ````, ```` ```bash ````, or no language).
    fn markdown(&mut self, file: &str, text: &str) {
        let mut block: Option<(bool, usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                match block.take() {
                    Some((true, first, script)) => {
                        for (line, words) in shell_commands(&script, first) {
                            self.found(file, line, &words);
                        }
                    }
                    Some((false, ..)) => {}
                    None => {
                        let shell = matches!(info.trim(), "" | "sh" | "shell" | "bash" | "console");
                        block = Some((shell, n + 2, String::new()));
                    }
                }
            } else if let Some((_, _, script)) = &mut block {
                script.push_str(line);
                script.push('\n');
            }
        }
    }

    /// `` `tongban …` `` in prose and comments, in any file.
    fn quoted(&mut self, file: &str, text: &str) -> anyhow::Result<()> {
        let quoted = Regex::new(r"`(tongban(?: [^`]*)?)`")?;
        for (n, line) in text.lines().enumerate() {
            for span in quoted.captures_iter(line) {
                let words = shell_commands(&span[1], n + 1)
                    .into_iter()
                    .next()
                    .map(|(_, words)| words)
                    .unwrap_or_default();
                self.commands.push(Found {
                    file: file.to_owned(),
                    place: format!("{file}:{}", n + 1),
                    args: words.into_iter().skip(1).collect(),
                    runs: false,
                });
            }
        }
        Ok(())
    }
}

fn walk(dir: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        if skip.contains(&path) {
            continue;
        }
        if path.is_dir() {
            walk(&path, skip, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn name_of(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

/// The image's `ENTRYPOINT` and `CMD`.
struct Image {
    entrypoint: Vec<String>,
    cmd: Vec<String>,
}

impl Image {
    /// What a container runs: its own entrypoint (compose) or command (Kubernetes) with its
    /// arguments, or for the `tongban` image the Containerfile's, as the runtimes combine them.
    fn argv(
        &self,
        image: Option<&str>,
        program: Option<Vec<String>>,
        args: Option<Vec<String>>,
    ) -> Vec<String> {
        let ours = image.is_some_and(|i| {
            let name = i.rsplit('/').next().unwrap_or(i);
            name.split(':').next() == Some(IMAGE)
        });
        match (program, ours) {
            (Some(program), _) => program
                .into_iter()
                .chain(args.unwrap_or_default())
                .collect(),
            (None, true) => self
                .entrypoint
                .iter()
                .cloned()
                .chain(args.unwrap_or_else(|| self.cmd.clone()))
                .collect(),
            (None, false) => args.unwrap_or_default(),
        }
    }
}

/// A compose health check's `test`: `CMD` and its argv, or `CMD-SHELL` and a script.
fn healthcheck_argv(test: &[String]) -> Vec<String> {
    match test.split_first() {
        Some((kind, rest)) if kind == "CMD" => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" => ["/bin/sh", "-c"]
            .iter()
            .map(|s| (*s).to_owned())
            .chain(rest.iter().cloned())
            .collect(),
        _ => Vec::new(),
    }
}

/// The arguments of every `tongban` command an argv runs, directly or through `sh -c`.
fn tongban_commands(argv: &[String]) -> Vec<Vec<String>> {
    match argv {
        [shell, flag, script, ..] if shell.ends_with("sh") && flag == "-c" => {
            shell_commands(script, 1)
                .iter()
                .filter_map(|(_, words)| tongban_in(words))
                .collect()
        }
        _ => tongban_in(argv).into_iter().collect(),
    }
}

fn is_tongban(word: &str) -> bool {
    word == "tongban"
        || (word.ends_with("/tongban") && (word.starts_with('/') || word.starts_with("./")))
}

/// The arguments of a simple command if it runs `tongban`: in command position (after
/// variable assignments and `exec`, `env` …), after `--`, or after the image in
/// `docker run` / `podman run` (whose entrypoint is `tongban`).
fn tongban_in(words: &[String]) -> Option<Vec<String>> {
    let mut start = 0;
    while let Some(word) = words.get(start) {
        let assignment = word.split_once('=').is_some_and(|(name, _)| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if assignment || matches!(word.as_str(), "exec" | "env" | "nohup" | "time" | "command") {
            start += 1;
        } else {
            break;
        }
    }
    let mut candidates = vec![start];
    candidates.extend(
        words
            .iter()
            .enumerate()
            .filter(|(_, w)| *w == "--")
            .map(|(i, _)| i + 1),
    );
    for at in candidates {
        if words.get(at).is_some_and(|w| is_tongban(w)) {
            return Some(words[at + 1..].to_vec());
        }
    }
    let runs_image = matches!(words, [engine, run, ..] if (engine == "docker" || engine == "podman") && run == "run");
    if runs_image && !words.iter().any(|w| w.starts_with("--entrypoint")) {
        let image = words
            .iter()
            .position(|w| w.split(':').next() == Some(IMAGE) && w.contains(':'))?;
        return Some(words[image + 1..].to_vec());
    }
    None
}

/// Lines with backslash continuations joined and `#` comment lines dropped, as systemd and
/// the Containerfile read them, each with the number of its first line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let (first, mut joined) = pending.take().unwrap_or((n + 1, String::new()));
        if let Some(part) = trimmed.strip_suffix('\\') {
            joined.push_str(part);
            joined.push(' ');
            pending = Some((first, joined));
        } else {
            joined.push_str(trimmed);
            if !joined.trim().is_empty() {
                out.push((first, joined));
            }
        }
    }
    out.extend(pending);
    out
}

/// A Containerfile argument list: exec form (JSON) or shell form (run by `/bin/sh -c`).
fn exec_or_shell(rest: &str) -> anyhow::Result<Vec<String>> {
    if rest.starts_with('[') {
        serde_json::from_str(rest).with_context(|| format!("not a JSON array of strings: {rest}"))
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
    }
}

/// Splits shell text into simple commands of words, each with the line it starts on: quotes
/// and backslashes as the shell reads them, `#` comments dropped, and newlines, `;`, `&`, `|`,
/// parentheses and redirections ending a command. Expansions stay as written, which is
/// enough to find the words of a `tongban` command.
fn shell_commands(text: &str, first_line: usize) -> Vec<(usize, Vec<String>)> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut line = first_line;
    let mut starts = line;
    let mut chars = text.chars();
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        if !in_word && words.is_empty() && !c.is_whitespace() {
            starts = line;
        }
        match c {
            '\\' => match chars.next() {
                Some('\n') => line += 1,
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
                None => {}
            },
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    line += usize::from(c == '\n');
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => match chars.next() {
                            Some('\n') => line += 1,
                            Some(next @ ('"' | '\\' | '$' | '`')) => word.push(next),
                            Some(next) => {
                                word.push('\\');
                                word.push(next);
                            }
                            None => {}
                        },
                        _ => {
                            line += usize::from(c == '\n');
                            word.push(c);
                        }
                    }
                }
            }
            '#' if !in_word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                end_word(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    commands.push((starts, std::mem::take(&mut words)));
                }
                line += 1;
            }
            ' ' | '\t' => end_word(&mut word, &mut in_word, &mut words),
            '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => {
                end_word(&mut word, &mut in_word, &mut words);
                if !words.is_empty() {
                    commands.push((starts, std::mem::take(&mut words)));
                }
                line += usize::from(c == '\n');
            }
            _ => {
                word.push(c);
                in_word = true;
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words);
    if !words.is_empty() {
        commands.push((starts, words));
    }
    commands
}

/// A scalar of a YAML file: the document it is in, the keys and sequence indices (`[0]`)
/// that lead to it, its text as written (see [`unquote`]) and its line.
struct Node {
    doc: usize,
    path: Vec<String>,
    text: String,
    line: usize,
}

/// An open mapping key or sequence item while reading YAML.
struct Frame {
    indent: usize,
    segment: String,
    item: bool,
}

/// Reads the block style of YAML the artefacts are written in into its scalars.
fn read_yaml(text: &str) -> Result<Vec<Node>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut nodes = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut items: HashMap<Vec<String>, usize> = HashMap::new();
    let mut doc = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = i + 1;
        let content = strip_comment(lines[i]);
        i += 1;
        if content.trim().is_empty() {
            continue;
        }
        if content.trim_end() == "---" {
            if !nodes.is_empty() || !stack.is_empty() {
                doc += 1;
            }
            stack.clear();
            items.clear();
            continue;
        }
        let mut column = content.len() - content.trim_start_matches(' ').len();
        let mut rest = content[column..].trim_end();
        if rest.starts_with('\t') {
            return Err(format!("line {line}: tabs do not indent YAML"));
        }
        let item = rest == "-" || rest.starts_with("- ");
        if item {
            while stack
                .last()
                .is_some_and(|f| f.indent > column || (f.indent == column && f.item))
            {
                stack.pop();
            }
            let parent: Vec<String> = stack.iter().map(|f| f.segment.clone()).collect();
            let index = items.entry(parent).or_insert(0);
            stack.push(Frame {
                indent: column,
                segment: format!("[{index}]"),
                item: true,
            });
            *index += 1;
            if rest == "-" {
                continue;
            }
            let after = &rest[2..];
            rest = after.trim_start();
            column += 2 + after.len() - rest.len();
            if rest == "-" || rest.starts_with("- ") {
                return Err(format!(
                    "line {line}: a sequence inside a sequence on one line"
                ));
            }
        } else {
            while stack.last().is_some_and(|f| f.indent >= column) {
                stack.pop();
            }
        }
        let mut path: Vec<String> = stack.iter().map(|f| f.segment.clone()).collect();
        let (value, owner) = match split_key(rest) {
            Some((key, value)) => {
                let key = unquote(key)?;
                if key == "<<" || value.starts_with('&') || value.starts_with('*') {
                    return Err(format!(
                        "line {line}: anchors, aliases and merge keys are not read here; write the values out"
                    ));
                }
                path.push(key.clone());
                if value.is_empty() {
                    stack.push(Frame {
                        indent: column,
                        segment: key,
                        item: false,
                    });
                    continue;
                }
                (value, column)
            }
            None if item => (rest, column - 2),
            None => return Err(format!("line {line}: cannot read `{rest}`")),
        };
        let text = if value.starts_with('|') {
            let (text, next) = block_scalar(&lines, i, owner);
            i = next;
            text
        } else if value.starts_with('>') {
            return Err(format!(
                "line {line}: folded scalars (>) are not read here; use |"
            ));
        } else {
            value.to_owned()
        };
        nodes.push(Node {
            doc,
            path,
            text,
            line,
        });
    }
    Ok(nodes)
}

/// The lines of a literal block scalar, from `start` while indented beyond `owner`, and the
/// index of the first line after it.
fn block_scalar(lines: &[&str], start: usize, owner: usize) -> (String, usize) {
    let mut end = start;
    let mut indent = None;
    while let Some(line) = lines.get(end) {
        if !line.trim().is_empty() {
            let own = line.len() - line.trim_start_matches(' ').len();
            if own <= owner {
                break;
            }
            indent.get_or_insert(own);
        }
        end += 1;
    }
    let indent = indent.unwrap_or(0);
    let mut text = String::new();
    for line in &lines[start..end] {
        text.push_str(line.get(indent..).unwrap_or_default());
        text.push('\n');
    }
    (text.trim_end_matches('\n').to_owned() + "\n", end)
}

/// A line without its comment: `#` at the start or after a space, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'')
                && matches!(previous, ' ' | ':' | '-' | '[' | ',' | '{') =>
            {
                quote = Some(c)
            }
            None if c == '#' && previous.is_whitespace() => return &line[..at],
            None => {}
        }
        previous = c;
    }
    line
}

/// `key: value` (or `key:`) outside quotes and brackets; `None` for a bare scalar.
fn split_key(rest: &str) -> Option<(&str, &str)> {
    let key_end = match rest.chars().next()? {
        '[' | '{' => return None,
        q @ ('"' | '\'') => rest[1..].find(q)? + 2,
        _ => 0,
    };
    let colon = key_end + rest[key_end..].find(':')?;
    let after = &rest[colon + 1..];
    if after.is_empty() || after.starts_with(' ') {
        return Some((rest[..colon].trim(), after.trim()));
    }
    if key_end > 0 {
        return None;
    }
    // A colon inside a plain scalar (`8443:8443`, `https://…`) is not a key's.
    let next = after.find(": ").map(|at| colon + 1 + at)?;
    Some((rest[..next].trim(), rest[next + 1..].trim()))
}

/// The value of a scalar as written: double-quoted (JSON escapes), single-quoted or plain.
fn unquote(text: &str) -> Result<String, String> {
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(|e| format!("cannot read {text}: {e}"))
    } else if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        Ok(inner.replace("''", "'"))
    } else {
        Ok(text.to_owned())
    }
}

/// One document of a YAML file.
struct Yaml<'a> {
    nodes: &'a [Node],
    doc: usize,
}

impl Yaml<'_> {
    fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.doc == self.doc)
    }

    fn node<S: AsRef<str>>(&self, path: &[S]) -> Option<&Node> {
        self.nodes().find(|n| same(&n.path, path))
    }

    fn line<S: AsRef<str>>(&self, path: &[S]) -> Option<usize> {
        self.node(path).map(|n| n.line).or_else(|| {
            self.nodes()
                .find(|n| n.path.len() == path.len() + 1 && same(&n.path[..path.len()], path))
                .map(|n| n.line)
        })
    }

    fn scalar<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<String>, String> {
        self.node(path).map(|n| unquote(&n.text)).transpose()
    }

    /// A sequence of strings, in flow style (JSON) or block style.
    fn list<S: AsRef<str>>(&self, path: &[S]) -> Result<Option<Vec<String>>, String> {
        if let Some(node) = self.node(path) {
            if !node.text.starts_with('[') {
                return Err(format!("line {}: expected a sequence", node.line));
            }
            return serde_json::from_str(&node.text).map(Some).map_err(|e| {
                format!(
                    "line {}: write flow sequences as double-quoted strings: {e}",
                    node.line
                )
            });
        }
        let items: Vec<String> = self
            .nodes()
            .filter(|n| {
                n.path.len() == path.len() + 1
                    && same(&n.path[..path.len()], path)
                    && n.path[path.len()].starts_with('[')
            })
            .map(|n| unquote(&n.text))
            .collect::<Result<_, _>>()?;
        Ok((!items.is_empty()).then_some(items))
    }

    /// The keys under a mapping, in order.
    fn children(&self, path: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for node in self.nodes() {
            if node.path.len() > path.len() && same(&node.path[..path.len()], path) {
                let child = &node.path[path.len()];
                if !out.contains(child) {
                    out.push(child.clone());
                }
            }
        }
        out
    }

    /// The paths of Kubernetes containers (`…containers[n]`, `…initContainers[n]`).
    fn containers(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for node in self.nodes() {
            let at = node.path.windows(2).position(|w| {
                (w[0] == "containers" || w[0] == "initContainers") && w[1].starts_with('[')
            });
            if let Some(at) = at {
                let prefix = node.path[..at + 2].to_vec();
                if !out.contains(&prefix) {
                    out.push(prefix);
                }
            }
        }
        out
    }
}

fn same<S: AsRef<str>>(a: &[String], b: &[S]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y.as_ref())
}
