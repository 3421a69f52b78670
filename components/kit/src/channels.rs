//! The event catalogue: every channel, the event types it carries, the one context that
//! publishes on it and which of its types each consumer acts on. Producers and consumers name
//! channels and types only by the constants here; the HTTP push delivers by it ([`interested`]),
//! a consumer believes an envelope's `source` by it ([`producer_for`]), and a test holds
//! `spin.toml`'s Redis triggers equal to it. A new subscriber is one entry in [`CHANNELS`] and
//! its `[[trigger.redis]]` in the manifest.

pub const USERS_EVENTS: &str = "users.events";
pub const CATALOG_COMMANDS: &str = "catalog.commands";
pub const CATALOG_EVENTS: &str = "catalog.events";
pub const PAYMENTS_COMMANDS: &str = "payments.commands";
pub const PAYMENTS_EVENTS: &str = "payments.events";
pub const SHIPPING_COMMANDS: &str = "shipping.commands";
pub const SHIPPING_EVENTS: &str = "shipping.events";
pub const ORDERS_EVENTS: &str = "orders.events";

/// `user.*`: facts of users.
pub mod user {
    pub const REGISTERED: &str = "user.registered";
    pub const PROFILE_UPDATED: &str = "user.profile-updated";
}

/// `stock.*`: the saga's commands to catalog, catalog's replies and its low-stock fact.
pub mod stock {
    pub const RESERVE: &str = "stock.reserve";
    pub const RELEASE: &str = "stock.release";
    pub const COMMIT: &str = "stock.commit";
    pub const RESERVED: &str = "stock.reserved";
    pub const RESERVATION_FAILED: &str = "stock.reservation-failed";
    pub const RELEASED: &str = "stock.released";
    pub const COMMITTED: &str = "stock.committed";
    pub const LOW: &str = "stock.low";
}

/// `product.*`: facts of the catalog.
pub mod product {
    pub const CREATED: &str = "product.created";
    pub const UPDATED: &str = "product.updated";
}

/// `payment.*`: the saga's commands to payments and payments' replies.
pub mod payment {
    pub const AUTHORIZE: &str = "payment.authorize";
    pub const CAPTURE: &str = "payment.capture";
    pub const VOID: &str = "payment.void";
    pub const REFUND: &str = "payment.refund";
    pub const AUTHORIZED: &str = "payment.authorized";
    pub const FAILED: &str = "payment.failed";
    pub const CAPTURED: &str = "payment.captured";
    pub const VOIDED: &str = "payment.voided";
    pub const REFUNDED: &str = "payment.refunded";
}

/// `shipment.*`: the saga's commands to shipping, shipping's replies and status changes.
pub mod shipment {
    pub const CREATE: &str = "shipment.create";
    pub const CANCEL: &str = "shipment.cancel";
    pub const CREATED: &str = "shipment.created";
    pub const FAILED: &str = "shipment.failed";
    pub const STATUS_CHANGED: &str = "shipment.status-changed";
    pub const CANCELLED: &str = "shipment.cancelled";
}

/// `order.*`: facts of orders.
pub mod order {
    pub const CREATED: &str = "order.created";
    pub const CONFIRMED: &str = "order.confirmed";
    pub const CANCELLED: &str = "order.cancelled";
    pub const FAILED: &str = "order.failed";
}

/// Which event types of a channel a consumer acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Every,
    /// Only these; the channel's other types are nothing to it.
    Only(&'static [&'static str]),
}

impl Interest {
    pub fn covers(self, event_type: &str) -> bool {
        match self {
            Interest::Every => true,
            Interest::Only(types) => types.contains(&event_type),
        }
    }
}

/// One channel of the catalogue.
#[derive(Debug)]
pub struct Channel {
    pub name: &'static str,
    /// The one context that publishes on it.
    pub producer: &'static str,
    /// Every event type it carries; no other channel carries one of them.
    pub carries: &'static [&'static str],
    /// The components that consume it, and what of it.
    pub consumers: &'static [(&'static str, Interest)],
}

impl Channel {
    /// The families of its types (`stock` for `stock.*`).
    fn families(&self) -> impl Iterator<Item = &'static str> {
        self.carries.iter().filter_map(|t| family(t))
    }

    fn consumed_by(&self, consumer: &str) -> bool {
        self.consumers.iter().any(|(name, _)| *name == consumer)
    }
}

/// The catalogue. Pub/sub hands a subscriber every message of its channel, but a push goes only
/// where the event type is of interest: an instance started for an event it ignores costs as
/// much as one that does work.
pub const CHANNELS: &[Channel] = &[
    Channel {
        name: USERS_EVENTS,
        producer: "users",
        carries: &[user::REGISTERED, user::PROFILE_UPDATED],
        consumers: &[(
            "notifications",
            Interest::Only(&[user::REGISTERED, user::PROFILE_UPDATED]),
        )],
    },
    Channel {
        name: CATALOG_COMMANDS,
        producer: "orders",
        carries: &[stock::RESERVE, stock::RELEASE, stock::COMMIT],
        consumers: &[("catalog", Interest::Every)],
    },
    Channel {
        name: CATALOG_EVENTS,
        producer: "catalog",
        carries: &[
            stock::RESERVED,
            stock::RESERVATION_FAILED,
            stock::RELEASED,
            stock::COMMITTED,
            stock::LOW,
            product::CREATED,
            product::UPDATED,
        ],
        // Orders acts only on the replies it awaits; `stock.committed` is not awaited (the
        // commit is sent with the confirmation) and product facts are the gateway cache's
        // business.
        consumers: &[(
            "orders",
            Interest::Only(&[stock::RESERVED, stock::RESERVATION_FAILED, stock::RELEASED]),
        )],
    },
    Channel {
        name: PAYMENTS_COMMANDS,
        producer: "orders",
        carries: &[
            payment::AUTHORIZE,
            payment::CAPTURE,
            payment::VOID,
            payment::REFUND,
        ],
        consumers: &[("payments", Interest::Every)],
    },
    Channel {
        name: PAYMENTS_EVENTS,
        producer: "payments",
        carries: &[
            payment::AUTHORIZED,
            payment::FAILED,
            payment::CAPTURED,
            payment::VOIDED,
            payment::REFUNDED,
        ],
        // The capture is sent with the confirmation, not awaited: orders acts on the other
        // replies only.
        consumers: &[
            (
                "orders",
                Interest::Only(&[
                    payment::AUTHORIZED,
                    payment::FAILED,
                    payment::VOIDED,
                    payment::REFUNDED,
                ]),
            ),
            ("notifications", Interest::Only(&[payment::FAILED])),
        ],
    },
    Channel {
        name: SHIPPING_COMMANDS,
        producer: "orders",
        carries: &[shipment::CREATE, shipment::CANCEL],
        consumers: &[("shipping", Interest::Every)],
    },
    Channel {
        name: SHIPPING_EVENTS,
        producer: "shipping",
        carries: &[
            shipment::CREATED,
            shipment::FAILED,
            shipment::STATUS_CHANGED,
            shipment::CANCELLED,
        ],
        consumers: &[
            ("orders", Interest::Every),
            ("notifications", Interest::Only(&[shipment::STATUS_CHANGED])),
        ],
    },
    Channel {
        name: ORDERS_EVENTS,
        producer: "orders",
        carries: &[
            order::CREATED,
            order::CONFIRMED,
            order::CANCELLED,
            order::FAILED,
        ],
        consumers: &[(
            "notifications",
            Interest::Only(&[order::CONFIRMED, order::CANCELLED, order::FAILED]),
        )],
    },
];

/// Which components consume each channel, and what of it: the catalogue's consumers, by channel.
pub const SUBSCRIBERS: &[(&str, &[(&str, Interest)])] = &SUBSCRIBER_TABLE;

const SUBSCRIBER_TABLE: [(&str, &[(&str, Interest)]); CHANNELS.len()] = {
    let mut table: [(&str, &[(&str, Interest)]); CHANNELS.len()] = [("", &[]); CHANNELS.len()];
    let mut index = 0;
    while index < CHANNELS.len() {
        table[index] = (CHANNELS[index].name, CHANNELS[index].consumers);
        index += 1;
    }
    table
};

/// `stock` for `stock.reserve`; `None` for a type with no family.
fn family(event_type: &str) -> Option<&str> {
    event_type.split_once('.').map(|(family, _)| family)
}

fn channel(name: &str) -> Option<&'static Channel> {
    CHANNELS.iter().find(|channel| channel.name == name)
}

/// The channel that carries `event_type`.
pub fn carrying(event_type: &str) -> Option<&'static str> {
    CHANNELS
        .iter()
        .find(|channel| channel.carries.contains(&event_type))
        .map(|channel| channel.name)
}

/// Whether `event_type` is a command (carried by a `*.commands` channel).
pub fn is_command(event_type: &str) -> bool {
    carrying(event_type).is_some_and(|channel| channel.ends_with(".commands"))
}

/// Every consumer of `channel`, whatever the event.
pub fn subscribers(channel_name: &str) -> impl Iterator<Item = &'static str> {
    channel(channel_name)
        .map_or(&[][..], |channel| channel.consumers)
        .iter()
        .map(|(consumer, _)| *consumer)
}

/// The consumers of `channel` that act on events of `event_type`.
pub fn interested(channel_name: &str, event_type: &str) -> impl Iterator<Item = &'static str> {
    channel(channel_name)
        .map_or(&[][..], |channel| channel.consumers)
        .iter()
        .filter(move |(_, interest)| interest.covers(event_type))
        .map(|(consumer, _)| *consumer)
}

/// Whom `consumer` takes events of `event_type` from: the producer of its channel of that
/// type's family; `None` when no channel brings such events to it. No consumer reads two
/// channels of one family, so the family names the channel: the Redis trigger does not say
/// which channel a message came on, and a push's `x-event-channel` header is only the
/// sender's word.
pub fn producer_for(consumer: &str, event_type: &str) -> Option<&'static str> {
    let family = family(event_type)?;
    CHANNELS
        .iter()
        .find(|channel| channel.consumed_by(consumer) && channel.families().any(|f| f == family))
        .map(|channel| channel.producer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_channel_has_its_consumers() {
        let all = |channel| subscribers(channel).collect::<Vec<_>>();
        assert_eq!(all(PAYMENTS_EVENTS), ["orders", "notifications"]);
        assert_eq!(all(CATALOG_COMMANDS), ["catalog"]);
        assert!(all("nobody.listens").is_empty());
        let table: Vec<(&str, usize)> = SUBSCRIBERS
            .iter()
            .map(|(channel, consumers)| (*channel, consumers.len()))
            .collect();
        let catalogue: Vec<(&str, usize)> = CHANNELS
            .iter()
            .map(|channel| (channel.name, channel.consumers.len()))
            .collect();
        assert_eq!(table, catalogue);
    }

    #[test]
    fn pushes_go_only_where_the_event_type_is_of_interest() {
        let to = |channel, event_type| interested(channel, event_type).collect::<Vec<_>>();
        assert_eq!(
            to(PAYMENTS_EVENTS, payment::FAILED),
            ["orders", "notifications"]
        );
        assert!(to(PAYMENTS_EVENTS, payment::CAPTURED).is_empty());
        assert_eq!(to(PAYMENTS_EVENTS, payment::AUTHORIZED), ["orders"]);
        assert!(to(ORDERS_EVENTS, order::CREATED).is_empty());
        assert_eq!(to(ORDERS_EVENTS, order::CONFIRMED), ["notifications"]);
    }

    /// What lets a producer's event type name its channel.
    #[test]
    fn each_event_type_is_carried_by_one_channel() {
        let mut all: Vec<&str> = CHANNELS.iter().flat_map(|c| c.carries).copied().collect();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count, "a type on two channels");
        assert_eq!(carrying(stock::RESERVE), Some(CATALOG_COMMANDS));
        assert_eq!(carrying(stock::RESERVED), Some(CATALOG_EVENTS));
        assert_eq!(carrying("stock.bogus"), None);
        assert!(is_command(payment::REFUND) && !is_command(payment::REFUNDED));
    }

    #[test]
    fn a_consumer_is_interested_only_in_types_its_channel_carries() {
        for channel in CHANNELS {
            for (consumer, interest) in channel.consumers {
                if let Interest::Only(types) = interest {
                    for event_type in *types {
                        assert!(
                            channel.carries.contains(event_type),
                            "{consumer} wants {event_type}, which {} does not carry",
                            channel.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_channel_is_named_for_its_producer_or_commands_the_orchestrator_sends() {
        for channel in CHANNELS {
            let (context, kind) = channel.name.split_once('.').expect("context.kind");
            let expected = if kind == "commands" {
                "orders"
            } else {
                context
            };
            assert_eq!(channel.producer, expected, "{}", channel.name);
            assert!(matches!(kind, "events" | "commands"), "{}", channel.name);
        }
    }

    /// What lets the event type name the channel it came on.
    #[test]
    fn no_consumer_reads_two_channels_of_one_family() {
        for channel in CHANNELS {
            for other in CHANNELS.iter().filter(|c| c.name != channel.name) {
                let shared = channel.families().any(|f| other.families().any(|o| o == f));
                let both = subscribers(channel.name).find(|c| other.consumed_by(c));
                assert!(
                    !shared || both.is_none(),
                    "{both:?} reads {} and {}",
                    channel.name,
                    other.name
                );
            }
        }
    }

    #[test]
    fn each_family_is_believed_only_from_its_channels_producer() {
        for (consumer, event_type, producer) in [
            ("catalog", stock::RESERVE, "orders"),
            ("orders", stock::RESERVED, "catalog"),
            ("orders", product::UPDATED, "catalog"),
            ("orders", payment::CAPTURED, "payments"),
            ("orders", shipment::CREATED, "shipping"),
            ("payments", payment::AUTHORIZE, "orders"),
            ("shipping", shipment::CANCEL, "orders"),
            ("notifications", user::REGISTERED, "users"),
            ("notifications", order::CONFIRMED, "orders"),
            ("notifications", payment::FAILED, "payments"),
            // A type added later to a family is believed from the same producer.
            ("catalog", "stock.recount", "orders"),
        ] {
            assert_eq!(
                producer_for(consumer, event_type),
                Some(producer),
                "{consumer} {event_type}"
            );
        }
        assert_eq!(producer_for("notifications", stock::LOW), None);
        assert_eq!(producer_for("users", user::REGISTERED), None);
        assert_eq!(producer_for("catalog", "stock"), None);
    }
}
