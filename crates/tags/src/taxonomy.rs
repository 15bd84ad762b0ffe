//! The tag taxonomy: categories (and which of them are fiat off-ramps by
//! default), confidence levels (0-100, GraphSense's named levels accepted),
//! an entity's status with its dates, and the mapping of GraphSense concepts
//! onto our categories.
//!
//! The same tables are written out for people in `TAXONOMY.md` beside this
//! crate; a test keeps the two in step. This module does no I/O.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! categories {
    ($($variant:ident = $name:literal, off_ramp = $off:literal, $doc:literal;)+) => {
        /// What kind of actor is behind a tagged address.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Category {
            $(#[doc = $doc] $variant,)+
        }

        impl Category {
            /// Every category, in documentation order.
            pub const ALL: &'static [Category] = &[$(Category::$variant,)+];

            /// The category's name in files, on the command line and in JSON.
            pub fn as_str(self) -> &'static str {
                match self { $(Category::$variant => $name,)+ }
            }

            /// Whether the category is in the default set of fiat off-ramps.
            pub fn is_default_off_ramp(self) -> bool {
                match self { $(Category::$variant => $off,)+ }
            }

            /// One line saying what the category covers.
            pub fn description(self) -> &'static str {
                match self { $(Category::$variant => $doc,)+ }
            }
        }

        impl FromStr for Category {
            type Err = UnknownCategoryError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
                    $($name => Ok(Category::$variant),)+
                    _ => Err(UnknownCategoryError(s.trim().to_owned())),
                }
            }
        }
    };
}

categories! {
    ExchangeLicensed = "exchange_licensed", off_ramp = true,
        "A licensed exchange with banking connections (licensed_by names the regulator).";
    ExchangeUnlicensed = "exchange_unlicensed", off_ramp = true,
        "An exchange operating without a licence where one is required.";
    Exchange = "exchange", off_ramp = true,
        "An exchange whose licence status the source does not say (GraphSense `exchange`).";
    PlatformShutDown = "platform_shut_down", off_ramp = true,
        "An exchange or trading platform shut down by authorities (status gives the date).";
    CashOutNetwork = "cash_out_network", off_ramp = true,
        "A network of couriers, money mules or cash desks turning crypto into cash.";
    OtcDesk = "otc_desk", off_ramp = true,
        "An over-the-counter broker.";
    AtmOperator = "atm_operator", off_ramp = true,
        "An operator of crypto ATMs.";
    PaymentProcessor = "payment_processor", off_ramp = true,
        "A payment processor settling merchants in fiat.";
    Mixer = "mixer", off_ramp = false,
        "A mixing service or CoinJoin coordinator.";
    Bridge = "bridge", off_ramp = false,
        "A cross-chain bridge.";
    Sanctioned = "sanctioned", off_ramp = false,
        "An address on a sanctions list (OFAC SDN and the like).";
    Seized = "seized", off_ramp = false,
        "A wallet seized or frozen by authorities or by a token issuer.";
    LawEnforcement = "law_enforcement", off_ramp = false,
        "A wallet controlled by a law-enforcement agency.";
    Ransomware = "ransomware", off_ramp = false,
        "A ransomware operator's payment or collection address.";
    Scam = "scam", off_ramp = false,
        "Fraud: scams, phishing, Ponzi and pyramid schemes, extortion.";
    DarknetMarket = "darknet_market", off_ramp = false,
        "A darknet market.";
    Gambling = "gambling", off_ramp = false,
        "A gambling service.";
    MiningPool = "mining_pool", off_ramp = false,
        "A mining pool or miner.";
    Defi = "defi", off_ramp = false,
        "A DeFi protocol: DEX, lending, staking, DAO, token contract.";
    Other = "other", off_ramp = false,
        "Anything else; the source's own concepts are kept on the tag.";
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A category name that is not in the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?} (see TAXONOMY.md for the list)")]
pub struct UnknownCategoryError(pub String);

/// The set of categories a tracer stops at as fiat off-ramps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffRamps(BTreeSet<Category>);

impl Default for OffRamps {
    /// The categories marked off-ramp in the taxonomy.
    fn default() -> Self {
        OffRamps(Category::ALL.iter().copied().filter(|c| c.is_default_off_ramp()).collect())
    }
}

impl OffRamps {
    /// A set of exactly `categories` (from configuration).
    pub fn new(categories: impl IntoIterator<Item = Category>) -> Self {
        OffRamps(categories.into_iter().collect())
    }

    /// Whether `category` is an off-ramp in this set.
    pub fn contains(&self, category: Category) -> bool {
        self.0.contains(&category)
    }

    /// The categories in the set, in order.
    pub fn iter(&self) -> impl Iterator<Item = Category> + '_ {
        self.0.iter().copied()
    }
}

/// GraphSense's named confidence levels (their `confidence.csv`), with the
/// number each stands for.
pub const CONFIDENCE_LEVELS: &[(&str, u8)] = &[
    ("override", 100),
    ("ownership", 100),
    ("ledger_immanent", 100),
    ("manual_transaction", 90),
    ("service_api", 70),
    ("forensic_investigation", 70),
    ("authority_data", 60),
    ("trusted_provider", 50),
    ("service_data", 50),
    ("forensic", 50),
    ("untrusted_transaction", 40),
    ("web_crawl", 20),
    ("heuristic", 10),
    ("unknown", 5),
];

/// How sure the source is of a tag: a number from 0 to 100 and, when the
/// source gave one, GraphSense's name for the level.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Confidence {
    /// 0 (a guess) to 100 (proven ownership).
    pub value: u8,
    /// The named level the source used (`authority_data`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
}

impl Confidence {
    /// GraphSense's `unknown` level (5), used when a source gives none.
    pub fn unknown() -> Self {
        Confidence { value: 5, level: Some("unknown".to_owned()) }
    }

    /// GraphSense's `authority_data` level (60), the default of sanctions lists.
    pub fn authority_data() -> Self {
        Confidence { value: 60, level: Some("authority_data".to_owned()) }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.level {
            Some(level) => write!(f, "{} ({level})", self.value),
            None => write!(f, "{}", self.value),
        }
    }
}

/// A confidence that is neither a number from 0 to 100 nor a named level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("confidence {0:?} is neither 0-100 nor a GraphSense level such as authority_data")]
pub struct BadConfidenceError(pub String);

impl FromStr for Confidence {
    type Err = BadConfidenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        if let Ok(value) = text.parse::<u8>() {
            if value <= 100 {
                return Ok(Confidence { value, level: None });
            }
        }
        let name = text.to_ascii_lowercase();
        CONFIDENCE_LEVELS
            .iter()
            .find(|(level, _)| *level == name)
            .map(|(level, value)| Confidence { value: *value, level: Some((*level).to_owned()) })
            .ok_or_else(|| BadConfidenceError(text.to_owned()))
    }
}

/// A calendar date, `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Date(String);

/// Text that is not a `YYYY-MM-DD` date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("date {0:?} is not YYYY-MM-DD")]
pub struct BadDateError(pub String);

impl FromStr for Date {
    type Err = BadDateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = || BadDateError(text.to_owned());
        let parts: Vec<&str> = text.split('-').collect();
        let [y, m, d] = parts.as_slice() else { return Err(bad()) };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
            return Err(bad());
        }
        let (month, day): (u8, u8) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        Ok(Date(text.to_owned()))
    }
}

impl Date {
    /// The date as `YYYY-MM-DD`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether the actor behind a tag still operates, with the date it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Status {
    /// Operating.
    Active,
    /// Shut down (by its operators or by authorities), on the date if known.
    ShutDown {
        /// The day it shut down.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<Date>,
    },
    /// Seized by authorities, on the date if known.
    Seized {
        /// The day of the seizure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on: Option<Date>,
    },
}

/// A status that is not `active`, `shut_down` or `seized`, or a bad date.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status {0:?} is not active, shut_down or seized")]
pub struct BadStatusError(pub String);

impl Status {
    /// Builds a status from its name and optional date.
    ///
    /// # Errors
    /// [`BadStatusError`] for an unknown name; a date on `active` is ignored.
    pub fn parse(name: &str, on: Option<Date>) -> Result<Status, BadStatusError> {
        match name.trim().to_ascii_lowercase().replace(['-', ' '], "_").as_str() {
            "active" => Ok(Status::Active),
            "shut_down" | "shutdown" | "closed" => Ok(Status::ShutDown { on }),
            "seized" => Ok(Status::Seized { on }),
            _ => Err(BadStatusError(name.trim().to_owned())),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Active => f.write_str("active"),
            Status::ShutDown { on: Some(on) } => write!(f, "shut down on {on}"),
            Status::ShutDown { on: None } => f.write_str("shut down"),
            Status::Seized { on: Some(on) } => write!(f, "seized on {on}"),
            Status::Seized { on: None } => f.write_str("seized"),
        }
    }
}

/// Every concept id of GraphSense's concept taxonomy (`concepts.yaml`), with
/// the category it maps to; `None` means the concept says nothing our
/// categories capture (it is kept on the tag but maps to `other` unless a
/// more specific concept of the same tag maps).
pub const GRAPHSENSE_CONCEPTS: &[(&str, Option<Category>)] = &[
    ("concept", None),
    ("unknown", None),
    ("behaviour", None),
    ("source", None),
    ("mention", None),
    ("website_mention", None),
    ("forum_mention", None),
    ("abuse", None),
    ("gray_usage", None),
    ("mixing", Some(Category::Mixer)),
    ("white_usage", None),
    ("sexual_abuse", None),
    ("child_sexual_abuse", None),
    ("violence", None),
    ("human_trafficking", None),
    ("murder", None),
    ("torture", None),
    ("scam", Some(Category::Scam)),
    ("financial_crime", None),
    ("investment_fraud", Some(Category::Scam)),
    ("ponzi_scheme", Some(Category::Scam)),
    ("pyramid_scheme", Some(Category::Scam)),
    ("money_laundering", None),
    ("extortion", Some(Category::Scam)),
    ("sextortion", Some(Category::Scam)),
    ("phishing", Some(Category::Scam)),
    ("hacking", None),
    ("service_hack", None),
    ("account_hack", None),
    ("exploit", None),
    ("data_breach", None),
    ("social_engineering", Some(Category::Scam)),
    ("malware", None),
    ("drugs", None),
    ("weapons", None),
    ("payment_card_fraud", None),
    ("ransomware", Some(Category::Ransomware)),
    ("sanction", Some(Category::Sanctioned)),
    ("counterfeit", None),
    ("extremism", None),
    ("terrorism", None),
    ("terrorism_financing", None),
    ("dark_web", Some(Category::DarknetMarket)),
    ("entity", None),
    ("organization", None),
    ("user", None),
    ("service", None),
    ("victim", None),
    ("perpetrator", None),
    ("donation", None),
    ("exchange", Some(Category::Exchange)),
    ("wallet_service", None),
    ("escrow_wallet", None),
    ("ico_wallet", None),
    ("cold_wallet", None),
    ("hot_wallet", None),
    ("warm_wallet", None),
    ("filesharing", None),
    ("index", None),
    ("market", Some(Category::DarknetMarket)),
    ("messaging_service", None),
    ("mixing_service", Some(Category::Mixer)),
    ("coinjoin", Some(Category::Mixer)),
    ("miner", Some(Category::MiningPool)),
    ("mining_service", Some(Category::MiningPool)),
    ("gambling", Some(Category::Gambling)),
    ("search_engine", None),
    ("shop", None),
    ("faucet", None),
    ("payment_processor", Some(Category::PaymentProcessor)),
    ("atm", Some(Category::AtmOperator)),
    ("hosting", None),
    ("vpn", None),
    ("nameservice", None),
    ("defi", Some(Category::Defi)),
    ("defi_token", Some(Category::Defi)),
    ("defi_lending", Some(Category::Defi)),
    ("defi_dex", Some(Category::Defi)),
    ("defi_dex_pair", Some(Category::Defi)),
    ("defi_derivatives", Some(Category::Defi)),
    ("defi_bridge", Some(Category::Bridge)),
    ("defi_dao", Some(Category::Defi)),
    ("defi_staking", Some(Category::Defi)),
    ("defi_custody", Some(Category::Defi)),
    ("item", None),
    ("collectible", None),
    // Not in concepts.yaml but used by the published usdt_blacklist pack:
    // addresses whose USDT Tether froze.
    ("black_list", Some(Category::Seized)),
];

/// Maps a tag's GraphSense concepts (its `category`, then `abuse`, then
/// `concepts`, in that order) onto one of our categories: the first that
/// maps wins, `other` when none does.
///
/// # Errors
/// [`UnknownCategoryError`] naming the first concept that is neither in
/// GraphSense's taxonomy nor one of our category names.
pub fn map_graphsense_concepts<'a>(
    concepts: impl IntoIterator<Item = &'a str>,
) -> Result<Category, UnknownCategoryError> {
    let mut found = None;
    for concept in concepts {
        let mapped = map_graphsense_concept(concept)?;
        if found.is_none() {
            found = mapped;
        }
    }
    Ok(found.unwrap_or(Category::Other))
}

/// Maps one GraphSense concept (or one of our category names) onto our
/// category; `None` for a known concept our categories do not capture.
///
/// # Errors
/// [`UnknownCategoryError`] for a name that is neither.
pub fn map_graphsense_concept(concept: &str) -> Result<Option<Category>, UnknownCategoryError> {
    let id = concept.trim().to_ascii_lowercase();
    match GRAPHSENSE_CONCEPTS.iter().find(|(name, _)| *name == id) {
        Some((_, mapped)) => Ok(*mapped),
        None => id.parse::<Category>().map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip_and_unknown_fails() {
        for category in Category::ALL {
            assert_eq!(category.as_str().parse::<Category>(), Ok(*category));
        }
        assert_eq!("Platform shut-down".parse::<Category>(), Ok(Category::PlatformShutDown));
        assert!("casino".parse::<Category>().unwrap_err().to_string().contains("casino"));
    }

    #[test]
    fn confidence_accepts_numbers_and_graphsense_levels() {
        assert_eq!("73".parse::<Confidence>().unwrap().value, 73);
        assert_eq!("authority_data".parse::<Confidence>().unwrap(), Confidence::authority_data());
        assert_eq!("heuristic".parse::<Confidence>().unwrap().value, 10);
        assert!("101".parse::<Confidence>().is_err());
        assert!("sure".parse::<Confidence>().is_err());
    }

    #[test]
    fn graphsense_concepts_map_first_specific_wins() {
        assert_eq!(map_graphsense_concepts(["user", "sanction"]), Ok(Category::Sanctioned));
        assert_eq!(map_graphsense_concepts(["mixing_service", "sanction"]), Ok(Category::Mixer));
        assert_eq!(map_graphsense_concepts(["organization"]), Ok(Category::Other));
        assert!(map_graphsense_concepts(["wizardry"]).is_err());
    }

    #[test]
    fn dates_and_statuses_validate() {
        assert!("2022-04-05".parse::<Date>().is_ok());
        assert!("2022-4-5".parse::<Date>().is_err());
        let on = "2022-04-05".parse::<Date>().ok();
        assert_eq!(Status::parse("shut down", on.clone()), Ok(Status::ShutDown { on }));
        assert!(Status::parse("sleeping", None).is_err());
    }

    #[test]
    fn taxonomy_doc_matches_the_code() {
        let doc = include_str!("../TAXONOMY.md");
        for category in Category::ALL {
            let flag = if category.is_default_off_ramp() { "yes" } else { "no" };
            let row = format!("| `{}` | {flag} |", category.as_str());
            assert!(doc.contains(&row), "TAXONOMY.md lacks {row}");
        }
        for (level, value) in CONFIDENCE_LEVELS {
            assert!(doc.contains(&format!("| `{level}` | {value} |")), "TAXONOMY.md lacks level {level}");
        }
    }

    #[test]
    fn default_off_ramps_are_the_fiat_exits() {
        let ramps = OffRamps::default();
        assert!(ramps.contains(Category::ExchangeLicensed));
        assert!(ramps.contains(Category::CashOutNetwork));
        assert!(!ramps.contains(Category::Mixer));
    }
}
