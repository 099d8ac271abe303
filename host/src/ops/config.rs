//! Configuration files (`--config FILE`) and `streamsum-host print-config`.
//!
//! Every flag of `streamsum-host` has an environment variable (clap's `env`), so a
//! TOML file is applied by setting, before parsing, the variable of each key it names
//! — unless that variable is already set. Precedence is therefore: command line >
//! environment > file > default, and a value from the file goes through exactly the
//! same parser and range check as the flag. Gazette's commands do the same with an
//! INI file (go-flags' `IniParse`) over flags that also read `$ENV`.
//!
//! Keys are long flag names (`data-dir` or `data_dir`) at the top level for the main
//! service and global flags, and in a table per subcommand (`[broker]`,
//! `[chunker]`, `[journals]`). An unknown key is refused with its name and the known
//! ones.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// The flag naming a configuration file, and its environment variable.
pub const CONFIG_FLAG: &str = "config";
/// Environment variable of `--config`.
pub const CONFIG_ENV: &str = "STREAMSUM_CONFIG";

/// Environment variables this process set from a configuration file.
static FROM_FILE: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The configuration file named by `--config FILE`, `--config=FILE` or
/// `$STREAMSUM_CONFIG`.
pub fn config_path(argv: &[OsString]) -> Option<PathBuf> {
    let mut args = argv.iter().skip(1);
    while let Some(a) = args.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// The (environment variable, value) assignments a configuration file makes for
/// `cmd`.
///
/// # Errors
/// Invalid TOML, an unknown key, a key of a flag that has no variable, a value that
/// is not a string, number or boolean — each naming the file and key.
pub fn assignments(file: &Path, text: &str, cmd: &Command) -> anyhow::Result<Vec<(String, String)>> {
    let table: toml::Table = text.parse().map_err(|e| anyhow!("{}: invalid TOML: {e}", file.display()))?;
    let mut out = Vec::new();
    walk(file, "", &table, cmd, &mut out)?;
    Ok(out)
}

/// Maps the keys of `table` (at `prefix`) to `cmd`'s flags; tables recurse into
/// subcommands.
fn walk(
    file: &Path,
    prefix: &str,
    table: &toml::Table,
    cmd: &Command,
    out: &mut Vec<(String, String)>,
) -> anyhow::Result<()> {
    for (key, value) in table {
        let full_key = format!("{prefix}{key}");
        if let toml::Value::Table(sub) = value {
            let sub_cmd = cmd
                .get_subcommands()
                .find(|c| c.get_name() == key && c.get_name() != "print-config")
                .ok_or_else(|| unknown_key(file, &full_key, cmd))?;
            walk(file, &format!("{full_key}."), sub, sub_cmd, out)?;
        } else {
            out.push(assignment(file, &full_key, key, value, cmd)?);
        }
    }
    Ok(())
}

fn assignment(
    file: &Path,
    full_key: &str,
    key: &str,
    value: &toml::Value,
    cmd: &Command,
) -> anyhow::Result<(String, String)> {
    let long = key.replace('_', "-");
    let arg = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long.as_str()) && a.get_id() != CONFIG_FLAG)
        .ok_or_else(|| unknown_key(file, full_key, cmd))?;
    let env = arg
        .get_env()
        .ok_or_else(|| anyhow!("{}: key `{full_key}` cannot be set from a file (pass --{long})", file.display()))?;
    let text = match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("{}: key `{full_key}` must be a string, number or boolean", file.display()),
    };
    Ok((env.to_string_lossy().into_owned(), text))
}

fn unknown_key(file: &Path, key: &str, cmd: &Command) -> anyhow::Error {
    let mut known: Vec<String> =
        cmd.get_arguments().filter(|a| settable(a)).filter_map(|a| a.get_long().map(str::to_owned)).collect();
    known.extend(configurable(cmd).map(|c| format!("[{}]", c.get_name())));
    anyhow!("{}: unknown configuration key `{key}` (known: {})", file.display(), known.join(", "))
}

/// Subcommands that have settings of their own or in their subcommands.
fn configurable(cmd: &Command) -> impl Iterator<Item = &Command> {
    fn has_settings(c: &Command) -> bool {
        c.get_arguments().any(settable) || c.get_subcommands().any(has_settings)
    }
    cmd.get_subcommands().filter(|c| c.get_name() != "print-config" && has_settings(c))
}

/// Reads the configuration file named in `argv` (if any) and sets the environment
/// variables it names that are not already set. Call before parsing, while the
/// process has one thread.
///
/// # Errors
/// See [`assignments`]; an unreadable file is named.
pub fn apply_file(argv: &[OsString], cmd: &Command) -> anyhow::Result<()> {
    let Some(file) = config_path(argv) else { return Ok(()) };
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading --config {}", file.display()))?;
    let mut from_file = FROM_FILE.lock().unwrap_or_else(|p| p.into_inner());
    for (env, value) in assignments(&file, &text, cmd)? {
        if std::env::var_os(&env).is_none() {
            std::env::set_var(&env, value);
            from_file.insert(env);
        }
    }
    Ok(())
}

/// The effective configuration of the main service as TOML, each value with where it
/// came from; subcommands' settings follow in their tables.
pub fn render(cmd: &Command, matches: &ArgMatches) -> String {
    let mut out = String::from(
        "# Effective configuration of streamsum-host; usable as --config FILE.\n\
         # Precedence: command line > environment > config file > default.\n",
    );
    for arg in cmd.get_arguments().filter(|a| settable(a)) {
        let id = arg.get_id().as_str();
        let value =
            matches.try_get_raw(id).ok().flatten().and_then(|mut v| v.next()).map(|v| v.to_string_lossy().into_owned());
        let source = match matches.value_source(id) {
            Some(ValueSource::CommandLine) => "command line".to_string(),
            Some(ValueSource::EnvVariable) => env_source(arg),
            Some(ValueSource::DefaultValue) => "default".to_string(),
            _ => "unset".to_string(),
        };
        line(&mut out, arg, value, &source);
    }
    render_tables(&mut out, "", cmd);
    out
}

/// The `[sub]` tables of `cmd`'s subcommands, from the environment and defaults.
fn render_tables(out: &mut String, prefix: &str, cmd: &Command) {
    for sub in configurable(cmd) {
        let name = format!("{prefix}{}", sub.get_name());
        out.push_str(&format!("\n[{name}]\n"));
        for arg in sub.get_arguments().filter(|a| settable(a)) {
            let env_value = arg.get_env().and_then(std::env::var_os).map(|v| v.to_string_lossy().into_owned());
            let default = arg.get_default_values().first().map(|v| v.to_string_lossy().into_owned());
            let (value, source) = match (env_value, default) {
                (Some(v), _) => (Some(v), env_source(arg)),
                (None, Some(d)) => (Some(d), "default".to_string()),
                (None, None) => (None, "unset".to_string()),
            };
            line(out, arg, value, &source);
        }
        render_tables(out, &format!("{name}."), sub);
    }
}

fn settable(arg: &clap::Arg) -> bool {
    arg.get_env().is_some() && arg.get_id() != CONFIG_FLAG && arg.get_long().is_some()
}

fn env_source(arg: &clap::Arg) -> String {
    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    if FROM_FILE.lock().unwrap_or_else(|p| p.into_inner()).contains(&env) {
        "config file".to_string()
    } else {
        "environment".to_string()
    }
}

fn line(out: &mut String, arg: &clap::Arg, value: Option<String>, source: &str) {
    let key = arg.get_long().unwrap_or_default();
    let env = arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    match value {
        Some(v) => out.push_str(&format!("{key} = {}  # {source}; env {env}\n", toml_value(&v))),
        None => out.push_str(&format!("# {key} =  # unset; env {env}\n")),
    }
}

/// Integers and booleans bare, everything else as a TOML string.
fn toml_value(v: &str) -> String {
    if v.parse::<i64>().is_ok() || v == "true" || v == "false" {
        v.to_owned()
    } else {
        toml::Value::String(v.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cmd() -> Command {
        Command::new("t")
            .arg(Arg::new("data_dir").long("data-dir").env("T_DATA_DIR").default_value("d"))
            .arg(Arg::new("config").long("config").env("T_CONFIG"))
            .arg(Arg::new("json").long("json").env("T_JSON").action(ArgAction::SetTrue))
            .subcommand(Command::new("broker").arg(Arg::new("partitions").long("partitions").env("T_PARTITIONS")))
    }

    #[test]
    fn keys_map_to_their_flags_environment_variables() {
        let text = "data_dir = \"/x\"\njson = true\n[broker]\npartitions = 4\n";
        let got = assignments(Path::new("c.toml"), text, &cmd()).unwrap();
        let want = [("T_PARTITIONS", "4"), ("T_DATA_DIR", "/x"), ("T_JSON", "true")]; // Keys in sorted order.
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_by_name() {
        let cases = [
            ("colour = 1", "c.toml: unknown configuration key `colour` (known: data-dir, json, [broker])"),
            ("[broker]\nlisten = 1", "c.toml: unknown configuration key `broker.listen` (known: partitions)"),
            ("[nope]\na = 1", "c.toml: unknown configuration key `nope` (known: data-dir, json, [broker])"),
            ("config = \"x\"", "c.toml: unknown configuration key `config`"),
            ("data-dir = [1]", "c.toml: key `data-dir` must be a string, number or boolean"),
            ("data-dir = ", "c.toml: invalid TOML"),
        ];
        for (text, want) in cases {
            let err = assignments(Path::new("c.toml"), text, &cmd()).unwrap_err().to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_config_file_comes_from_the_flag() {
        let argv = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(config_path(&argv(&["x", "--config", "a.toml"])), Some("a.toml".into()));
        assert_eq!(config_path(&argv(&["x", "--app", "y", "--config=b.toml"])), Some("b.toml".into()));
    }

    #[test]
    fn rendered_values_say_where_they_came_from() {
        let cmd = cmd();
        let matches = cmd.clone().try_get_matches_from(["t", "--data-dir", "/cli dir"]).unwrap();
        let out = render(&cmd, &matches);
        assert!(out.contains("data-dir = \"/cli dir\"  # command line; env T_DATA_DIR\n"), "{out}");
        assert!(out.contains("json = false  # default; env T_JSON\n"), "{out}");
        assert!(out.contains("\n[broker]\n# partitions =  # unset; env T_PARTITIONS\n"), "{out}");
    }
}
