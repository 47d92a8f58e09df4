//! Logging set-up, once per process: [`init_lambda`] for the functions, [`init_cli`] for the
//! `presence` CLI.
//!
//! In Lambda the format and level come from the function's logging configuration (template.yaml
//! `LoggingConfig`), which Lambda passes as `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `Text`) and
//! `AWS_LAMBDA_LOG_LEVEL` (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `FATAL`). Lines go to
//! stdout, which Lambda forwards to CloudWatch. The runtime (`lambda_runtime`) wraps every
//! invocation in a span carrying `requestId`, so each line logged while handling an event names
//! its request: in JSON as `span.requestId`, in text as the span prefix. JSON lines leave out
//! the list of enclosing spans (`spans`): it would repeat that one span on every line, and log
//! bytes are a cost per event (docs/cost.md).

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The level when `AWS_LAMBDA_LOG_LEVEL` is not set (and `RUST_LOG` neither): Lambda's own
/// default application log level.
pub const LAMBDA_DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;

/// The CLI's level when `RUST_LOG` is not set: warnings and errors only, so that logs do not mix
/// with the output people read.
pub const CLI_DEFAULT_FILTER: &str = "warn";

/// How a function logs, from its environment: see [`lambda_settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaLogging {
    /// JSON lines (`AWS_LAMBDA_LOG_FORMAT=JSON`), else text.
    pub json: bool,
    /// `None`: `AWS_LAMBDA_LOG_LEVEL` is not set, so `RUST_LOG` applies (local runs), else
    /// [`LAMBDA_DEFAULT_LEVEL`].
    pub level: Option<LevelFilter>,
    /// A variable that was set to something Lambda never sets, and what was used instead: logged
    /// as a warning once logging is up (a typo must not silence the function's logs).
    pub warnings: Vec<String>,
}

/// The logging settings from the values of `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`
/// (pure; both case-insensitive).
///
/// - format: `JSON` gives JSON lines; `Text`, empty or unset gives text; anything else gives
///   text and a warning.
/// - level: Lambda's names; `FATAL` (which `tracing` has not) is `ERROR`. An empty value counts
///   as unset. Anything else falls back to `INFO`, with a warning: a bad level must neither stop
///   the function nor hide its logs.
pub fn lambda_settings(format: Option<&str>, level: Option<&str>) -> LambdaLogging {
    let mut warnings = Vec::new();
    let json = match format.map(str::trim).unwrap_or("") {
        f if f.eq_ignore_ascii_case("json") => true,
        f if f.is_empty() || f.eq_ignore_ascii_case("text") => false,
        other => {
            warnings.push(format!(
                "AWS_LAMBDA_LOG_FORMAT={other:?} is neither JSON nor Text: logging text"
            ));
            false
        }
    };
    let level = level.map(str::trim).filter(|l| !l.is_empty()).map(|name| {
        lambda_level(name).unwrap_or_else(|| {
            warnings.push(format!(
                "AWS_LAMBDA_LOG_LEVEL={name:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, \
                 FATAL: logging at INFO"
            ));
            LevelFilter::INFO
        })
    });
    LambdaLogging {
        json,
        level,
        warnings,
    }
}

/// One of Lambda's level names, case-insensitive.
fn lambda_level(name: &str) -> Option<LevelFilter> {
    let level = match name.to_ascii_uppercase().as_str() {
        "TRACE" => LevelFilter::TRACE,
        "DEBUG" => LevelFilter::DEBUG,
        "INFO" => LevelFilter::INFO,
        "WARN" => LevelFilter::WARN,
        "ERROR" | "FATAL" => LevelFilter::ERROR,
        _ => return None,
    };
    Some(level)
}

/// Sets up a function's logging from `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL` (see
/// [`lambda_settings`]); without `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG` directives apply (local runs
/// under `cargo lambda watch`), defaulting to INFO. Call once, first thing in `main`.
pub fn init_lambda() {
    let var = |name| std::env::var(name).ok();
    let settings = lambda_settings(
        var("AWS_LAMBDA_LOG_FORMAT").as_deref(),
        var("AWS_LAMBDA_LOG_LEVEL").as_deref(),
    );
    let filter = match settings.level {
        Some(level) => EnvFilter::builder()
            .with_default_directive(level.into())
            .parse_lossy(""),
        None => EnvFilter::builder()
            .with_default_directive(LAMBDA_DEFAULT_LEVEL.into())
            .from_env_lossy(),
    };
    // No timestamps and no targets: CloudWatch stamps every line, and the target (the module)
    // says little to an operator.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .without_time()
        .with_writer(std::io::stdout);
    if settings.json {
        builder.json().with_span_list(false).init();
    } else {
        builder.init();
    }
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
}

/// Sets up the CLI's logging: text on stderr (stdout is the command's output), filtered by
/// `RUST_LOG` (default [`CLI_DEFAULT_FILTER`]; directives it cannot parse are ignored). Call
/// once, first thing in `main`.
pub fn init_cli() {
    let filter = EnvFilter::builder()
        .parse_lossy(std::env::var("RUST_LOG").unwrap_or_else(|_| CLI_DEFAULT_FILTER.to_owned()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_formats() {
        for (format, json) in [
            (Some("JSON"), true),
            (Some("json"), true),
            (Some(" Json "), true),
            (Some("Text"), false),
            (Some("TEXT"), false),
            (Some(""), false),
            (None, false),
        ] {
            let s = lambda_settings(format, None);
            assert_eq!((s.json, s.warnings.len()), (json, 0), "{format:?}");
        }
        let s = lambda_settings(Some("yaml"), None);
        assert!(!s.json);
        assert!(s.warnings[0].contains("\"yaml\""), "{:?}", s.warnings);
    }

    #[test]
    fn lambda_levels_by_lambdas_names() {
        for (name, level) in [
            ("TRACE", LevelFilter::TRACE),
            ("DEBUG", LevelFilter::DEBUG),
            ("INFO", LevelFilter::INFO),
            ("WARN", LevelFilter::WARN),
            ("ERROR", LevelFilter::ERROR),
            ("FATAL", LevelFilter::ERROR),
            ("debug", LevelFilter::DEBUG),
            (" warn ", LevelFilter::WARN),
        ] {
            let s = lambda_settings(Some("JSON"), Some(name));
            assert_eq!(s.level, Some(level), "{name}");
            assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);
        }
    }

    #[test]
    fn unset_level_leaves_it_to_rust_log_and_the_default() {
        assert_eq!(lambda_settings(None, None).level, None);
        assert_eq!(lambda_settings(None, Some("  ")).level, None);
    }

    #[test]
    fn bad_levels_fall_back_to_info_with_a_warning() {
        for bad in ["VERBOSE", "WARNING", "3", "info,aws=debug"] {
            let s = lambda_settings(Some("JSON"), Some(bad));
            assert_eq!(s.level, Some(LevelFilter::INFO), "{bad}");
            assert!(s.json);
            assert_eq!(s.warnings.len(), 1, "{bad}");
            assert!(s.warnings[0].contains(bad), "{:?}", s.warnings);
        }
        let s = lambda_settings(Some("xml"), Some("LOUD"));
        assert_eq!(
            (s.json, s.level, s.warnings.len()),
            (false, Some(LevelFilter::INFO), 2)
        );
    }
}
