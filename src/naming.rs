//! Naming clients (`dns.client_names = "ptr"`): the reverse lookup of each client address,
//! answered by the local records or by the `[[dns.forward]]` zone that holds the reverse name
//! (typically the router's) — never by the general upstreams, so no address of the house leaves
//! it. A background task looks at the clients every few seconds and asks for those without a
//! name from the last hour; nothing of this runs on the DNS path. Names are labels shown beside
//! the history (a device's own name from DoT/DoH wins), so a name found later names the past too.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use hickory_proto::rr::{LowerName, Name, RData, RecordType};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::config::{ClientNames, Config};
use crate::dns::local::SharedLocal;
use crate::dns::upstream::{Forwarders, UpstreamSetupError};
use crate::store::Store;
use crate::store::time::unix_micros;

/// How often the clients are looked at for ones without a name.
const LOOK_EVERY: Duration = Duration::from_secs(2);
/// How long a name (or the lack of one) is kept before it is looked up again.
const KEEP_FOR: Duration = Duration::from_secs(3600);
/// Lookups per round, so a flood of new clients is named over a few rounds.
const PER_ROUND: i64 = 64;

struct Namer {
    local: SharedLocal,
    forwarders: Forwarders,
    store: Store,
}

/// Starts naming clients, unless `dns.client_names` is off.
pub fn spawn(
    config: &Config,
    local: SharedLocal,
    store: Store,
) -> Result<Option<JoinHandle<()>>, UpstreamSetupError> {
    if config.dns.client_names == ClientNames::Off {
        return Ok(None);
    }
    let namer = Namer {
        local,
        forwarders: Forwarders::new(&config.dns)?,
        store,
    };
    Ok(Some(tokio::spawn(async move {
        loop {
            namer.round().await;
            tokio::time::sleep(LOOK_EVERY).await;
        }
    })))
}

impl Namer {
    async fn round(&self) {
        let now = SystemTime::now();
        let stale = unix_micros(now - KEEP_FOR);
        let due = match self.store.unlabelled_clients(stale, PER_ROUND).await {
            Ok(due) => due,
            Err(err) => {
                debug!(%err, "cannot read the clients to name");
                return;
            }
        };
        for address in due {
            let name = self.look_up(&address).await;
            if let Some(name) = &name {
                info!(%address, %name, "client named");
            }
            if let Err(err) = self
                .store
                .set_client_label(&address, name.as_deref(), unix_micros(now))
                .await
            {
                debug!(%err, "cannot store a client's name");
            }
        }
    }

    /// The name of `address` from the local records, else from the forwarded zone holding its
    /// reverse name; none when neither knows it (the general upstreams are never asked).
    async fn look_up(&self, address: &str) -> Option<String> {
        let address: IpAddr = address.parse().ok()?;
        if let Some(name) = self.local.load().name_of(address) {
            return Some(shown(name));
        }
        let reverse = Name::from(address);
        let upstreams = self.forwarders.zone_of(&LowerName::from(&reverse))?;
        let answer = upstreams.resolve(&reverse, RecordType::PTR).await.ok()?;
        answer
            .reply
            .answers
            .iter()
            .find_map(|record| match &record.data {
                RData::PTR(ptr) => Some(shown(&ptr.0)),
                _ => None,
            })
    }
}

/// A name as people read it: lower case, no trailing dot.
fn shown(name: &Name) -> String {
    name.to_lowercase()
        .to_ascii()
        .trim_end_matches('.')
        .to_owned()
}
