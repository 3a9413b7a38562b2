//! The entity key types features are kept per, and one traffic event's resolved keys.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an entity id names. Entity ids are the engine's integer ids (engine_interface.md §4.2,
/// §4.4), world-level for a given manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyType {
    /// `party_id`: the customer.
    Party,
    /// `account_id`: an account the party owns.
    Account,
    /// `instrument_id`: a card or other instrument of the account.
    Instrument,
    /// `device_id`: a device linked to the party.
    Device,
    /// `ip_id`: an IP endpoint linked to the device.
    Ip,
    /// `merchant_id`: the merchant of the arrival.
    Merchant,
}

impl KeyType {
    /// Every key type.
    pub const ALL: [KeyType; 6] = [
        Self::Party,
        Self::Account,
        Self::Instrument,
        Self::Device,
        Self::Ip,
        Self::Merchant,
    ];

    /// The name used in policies and feature keys (`"<key_type>:<key_id>"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Party => "party",
            Self::Account => "account",
            Self::Instrument => "instrument",
            Self::Device => "device",
            Self::Ip => "ip",
            Self::Merchant => "merchant",
        }
    }

    /// The engine payload column carrying this id.
    pub fn column(self) -> &'static str {
        match self {
            Self::Party => "party_id",
            Self::Account => "account_id",
            Self::Instrument => "instrument_id",
            Self::Device => "device_id",
            Self::Ip => "ip_id",
            Self::Merchant => "merchant_id",
        }
    }

    /// Parse a policy / request name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The entity ids of one traffic event, resolved from its flow binding (the flow anchor of the
/// run's mode): the traffic payload itself carries only the flow id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityKeys {
    /// `party_id`.
    pub party: u64,
    /// `account_id`.
    pub account: u64,
    /// `instrument_id`.
    pub instrument: u64,
    /// `device_id`.
    pub device: u64,
    /// `ip_id`.
    pub ip: u64,
    /// `merchant_id`.
    pub merchant: u64,
}

impl EntityKeys {
    /// The id of one key type.
    pub fn get(&self, key_type: KeyType) -> u64 {
        match key_type {
            KeyType::Party => self.party,
            KeyType::Account => self.account,
            KeyType::Instrument => self.instrument,
            KeyType::Device => self.device,
            KeyType::Ip => self.ip,
            KeyType::Merchant => self.merchant,
        }
    }
}
