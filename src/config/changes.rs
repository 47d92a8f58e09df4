//! The PresenceChanged function's settings (see `crate::functions::changes`): the EventBridge
//! bus its events go to, and the queue that keeps the events EventBridge kept refusing.

use super::ConfigError;

pub const EVENT_BUS_VAR: &str = "EVENT_BUS_NAME";
pub const CHANGES_FAILED_QUEUE_VAR: &str = "CHANGES_FAILED_QUEUE_URL";

/// The account's default bus, when no bus is named.
pub const DEFAULT_EVENT_BUS: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangesConfig {
    /// A bus name or ARN.
    pub event_bus: String,
    /// Where an event goes when EventBridge refused it on every attempt.
    pub failed_queue_url: String,
}

impl ChangesConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        let failed_queue_url = set(CHANGES_FAILED_QUEUE_VAR)
            .ok_or(ConfigError::MissingQueue(CHANGES_FAILED_QUEUE_VAR))?;
        Ok(ChangesConfig {
            event_bus: set(EVENT_BUS_VAR).unwrap_or_else(|| DEFAULT_EVENT_BUS.to_owned()),
            failed_queue_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bus_defaults_and_the_queue_is_required() {
        let config = ChangesConfig::from_lookup(|var| {
            (var == CHANGES_FAILED_QUEUE_VAR).then(|| "http://127.0.0.1:1/q".to_owned())
        })
        .unwrap();
        assert_eq!(config.event_bus, "default");
        let err = ChangesConfig::from_lookup(|_| None).unwrap_err();
        assert!(err.to_string().contains(CHANGES_FAILED_QUEUE_VAR), "{err}");
        let named = ChangesConfig::from_lookup(|var| match var {
            EVENT_BUS_VAR => Some("fleet".to_owned()),
            _ => Some("http://127.0.0.1:1/q".to_owned()),
        })
        .unwrap();
        assert_eq!(named.event_bus, "fleet");
    }
}
