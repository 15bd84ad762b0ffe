//! Webhook delivery: each pending delivery is POSTed, with its stored body
//! byte for byte, to its item's hook, signed in `X-Chainsleuth-Signature:
//! sha256=<hex HMAC-SHA256 of the body, keyed with the hook's secret>`.
//! A 2xx answer delivers it; anything else (another status, a timeout, a
//! refused connection) is tried again after a backoff that doubles from
//! [`WatchOptions::backoff_base`](super::WatchOptions) up to its cap, until
//! the attempts run out. The state is saved after every attempt, so a
//! restart resumes the schedule; a restart between a hook's answer and that
//! save sends the delivery once more (delivery is at least once).

use std::sync::atomic::Ordering;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::store::{now_ms, Delivery, DeliveryKey, DeliveryState};
use super::{Watch, WatchError, WatchOptions};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Chainsleuth-Signature";
/// The header naming the event (`alert` or `retraction`).
pub const EVENT_HEADER: &str = "X-Chainsleuth-Event";
/// The header naming the delivery (`<alert id>-<event>-<watch id>`), the same on every attempt.
pub const DELIVERY_HEADER: &str = "X-Chainsleuth-Delivery";

/// `sha256=` and the hex HMAC-SHA256 of `body` keyed with `secret`: the
/// value of [`SIGNATURE_HEADER`].
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before the attempt after `attempts` failed ones.
fn backoff(options: &WatchOptions, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    options.backoff_base.saturating_mul(factor).min(options.backoff_cap)
}

/// The HTTP client deliveries use: the options' timeout, no redirects (a
/// hook answers itself).
pub(crate) fn client(options: &WatchOptions) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(options.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Makes one attempt at `delivery` and saves the outcome.
pub(crate) async fn attempt(
    watch: &Watch,
    client: &reqwest::Client,
    key: DeliveryKey,
    mut delivery: Delivery,
) -> Result<(), WatchError> {
    let store = watch.store()?;
    let due = delivery.next_try_ms;
    let hook = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.item(key.watch))
            .await
            .map_err(|err| WatchError::Task(err.to_string()))??
            .and_then(|item| item.webhook)
    };
    delivery.attempts += 1;
    let outcome = match &hook {
        None => Err((None, "the watch item or its webhook was deleted".to_owned(), false)),
        Some(hook) => {
            let event = match key.event {
                super::store::Event::Alert => "alert",
                super::store::Event::Retraction => "retraction",
            };
            let sent = client
                .post(&hook.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature(&hook.secret.0, delivery.body.as_bytes()))
                .header(EVENT_HEADER, event)
                .header(DELIVERY_HEADER, format!("{}-{event}-{}", key.alert, key.watch))
                .body(delivery.body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
                Ok(response) => {
                    Err((Some(response.status().as_u16()), format!("answered {}", response.status()), true))
                }
                // Without the URL: it may hold credentials.
                Err(err) => Err((None, describe(err), true)),
            }
        }
    };
    match outcome {
        Ok(status) => {
            delivery.state = DeliveryState::Delivered;
            delivery.next_try_ms = None;
            delivery.last_status = Some(status);
            delivery.last_error = None;
            watch.counters.deliveries_ok.fetch_add(1, Ordering::Relaxed);
            watch.count_delivery("delivered");
        }
        Err((status, error, retry)) => {
            watch.counters.delivery_attempts_failed.fetch_add(1, Ordering::Relaxed);
            delivery.last_status = status;
            if retry && delivery.attempts < watch.options.max_attempts {
                watch.count_delivery("failed");
                let wait = backoff(&watch.options, delivery.attempts);
                delivery.next_try_ms =
                    Some(now_ms().saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)));
                tracing::info!(alert = key.alert, watch = key.watch, attempts = delivery.attempts, %error, "watch: webhook delivery failed; will retry");
            } else {
                delivery.state = DeliveryState::Failed;
                delivery.next_try_ms = None;
                watch.counters.deliveries_failed.fetch_add(1, Ordering::Relaxed);
                watch.count_delivery("abandoned");
                tracing::warn!(alert = key.alert, watch = key.watch, attempts = delivery.attempts, %error, "watch: webhook delivery given up");
            }
            delivery.last_error = Some(error);
        }
    }
    tokio::task::spawn_blocking(move || store.save_delivery(key, &delivery, due))
        .await
        .map_err(|err| WatchError::Task(err.to_string()))??;
    Ok(())
}

/// What went wrong with a request, without its URL.
fn describe(err: reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        chainsleuth_tags::error_chain(&err.without_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_the_hmac_of_the_body() {
        // RFC 4231, test case 2.
        let got = signature("Jefe", b"what do ya want for nothing?");
        assert_eq!(got, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let options = WatchOptions {
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(30),
            ..WatchOptions::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| backoff(&options, n).as_secs()).collect();
        assert_eq!(waits, [2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(&options, u32::MAX), Duration::from_secs(30));
    }
}
