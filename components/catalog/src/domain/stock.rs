//! Stock: a product's on-hand and reserved units as a [`Level`], the arithmetic of reserving,
//! releasing, committing and counting them, and when a change deserves a low-stock alert.

pub const DEFAULT_LOW_STOCK_THRESHOLD: u32 = 5;

/// A product's stock. Invariant: `reserved <= on_hand`, so `available` is never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub on_hand: u32,
    pub reserved: u32,
    pub threshold: u32,
}

impl Level {
    pub fn new(on_hand: u32, reserved: u32, threshold: u32) -> Option<Self> {
        (reserved <= on_hand).then_some(Self {
            on_hand,
            reserved,
            threshold,
        })
    }

    pub fn available(&self) -> u32 {
        self.on_hand - self.reserved
    }

    pub fn is_low(&self) -> bool {
        self.available() < self.threshold
    }

    /// `quantity` more reserved, or `None` when fewer are available.
    pub fn reserve(&self, quantity: u32) -> Option<Self> {
        (quantity <= self.available()).then_some(Self {
            reserved: self.reserved + quantity,
            ..*self
        })
    }

    /// `quantity` reserved units back to available; `None` if fewer are reserved.
    pub fn release(&self, quantity: u32) -> Option<Self> {
        Some(Self {
            reserved: self.reserved.checked_sub(quantity)?,
            ..*self
        })
    }

    /// `quantity` reserved units leave the warehouse; `None` if fewer are reserved.
    pub fn commit(&self, quantity: u32) -> Option<Self> {
        Some(Self {
            on_hand: self.on_hand.checked_sub(quantity)?,
            reserved: self.reserved.checked_sub(quantity)?,
            ..*self
        })
    }

    /// An admin's stock count; `None` when it is below what is already reserved.
    pub fn set(&self, on_hand: u32, threshold: Option<u32>) -> Option<Self> {
        Self::new(on_hand, self.reserved, threshold.unwrap_or(self.threshold))
    }
}

/// Whether a change from `before` to `after` deserves a `stock.low` event: available is below
/// the threshold afterwards, and it either just crossed it or dropped further. Repeats are thus
/// bounded by the threshold per restock, and a change that leaves available as it was (commit)
/// stays quiet.
pub fn low_stock_alert(before: &Level, after: &Level) -> bool {
    after.is_low() && (!before.is_low() || after.available() < before.available())
}

/// A level with the default threshold: where the stock and reservation tests start.
#[cfg(test)]
pub(super) fn level(on_hand: u32, reserved: u32) -> Level {
    Level::new(on_hand, reserved, DEFAULT_LOW_STOCK_THRESHOLD).expect("valid level")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_arithmetic_keeps_available_non_negative() {
        let start = level(10, 0);
        assert_eq!(start.available(), 10);
        let reserved = start.reserve(10).expect("exactly available");
        assert_eq!((reserved.reserved, reserved.available()), (10, 0));
        assert_eq!(reserved.reserve(1), None);
        assert_eq!(level(10, 4).reserve(7), None);
        let released = level(10, 4).release(3).expect("held");
        assert_eq!((released.on_hand, released.reserved), (10, 1));
        assert_eq!(level(10, 4).release(5), None);
        let committed = level(10, 4).commit(4).expect("held");
        assert_eq!(
            (committed.on_hand, committed.reserved, committed.available()),
            (6, 0, 6)
        );
        assert_eq!(level(10, 4).commit(5), None);
        assert_eq!(Level::new(3, 4, 5), None);
    }

    #[test]
    fn setting_stock_below_reserved_is_refused() {
        let current = level(10, 6);
        assert_eq!(current.set(5, None), None);
        let set = current.set(6, Some(2)).expect("equal to reserved");
        assert_eq!((set.on_hand, set.available(), set.threshold), (6, 0, 2));
        assert_eq!(current.set(20, None).expect("more").threshold, 5);
    }

    #[test]
    fn low_stock_is_signalled_on_crossing_and_further_drops() {
        // threshold 5
        assert!(!low_stock_alert(&level(20, 0), &level(20, 10)));
        assert!(
            !low_stock_alert(&level(20, 0), &level(20, 15)),
            "5 is not below 5"
        );
        assert!(low_stock_alert(&level(20, 15), &level(20, 16)), "crossed");
        assert!(
            low_stock_alert(&level(20, 16), &level(20, 20)),
            "dropped further"
        );
        assert!(
            !low_stock_alert(&level(20, 16), &level(16, 12)),
            "commit leaves available as it was"
        );
        assert!(
            !low_stock_alert(&level(20, 18), &level(20, 16)),
            "released: rising"
        );
        let raised = Level::new(20, 0, 50).expect("valid");
        assert!(
            low_stock_alert(&level(20, 0), &raised),
            "threshold raised above available"
        );
    }
}
