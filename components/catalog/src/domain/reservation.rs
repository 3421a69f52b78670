//! Reservations: validating an order's request (merging repeated products), planning it all or
//! nothing against the stock levels, and releasing or committing it — each idempotent, and
//! each refusing the other once done.

use std::collections::BTreeMap;

use wasmshop_kit::FieldError;
use wasmshop_kit::ids::is_id;

use super::stock::Level;
use super::{conflict, field_error};
use crate::bindings::wasmshop::catalog::types::{ReservationLine, ReservationStatus};

pub const MAX_RESERVATION_LINES: usize = 100;

/// Validates a reservation request and merges lines naming the same product (first position
/// kept). The order id and every product id must be UUIDs, every quantity at least 1.
pub fn validate_reservation(
    order_id: &str,
    lines: &[ReservationLine],
) -> Result<Vec<ReservationLine>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if !is_id(order_id) {
        errors.push(field_error("order_id", "must be an order id"));
    }
    if lines.is_empty() {
        errors.push(field_error("lines", "must not be empty"));
    }
    if lines.len() > MAX_RESERVATION_LINES {
        errors.push(field_error(
            "lines",
            format!("must have at most {MAX_RESERVATION_LINES} lines"),
        ));
    }
    let mut merged: Vec<ReservationLine> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut valid = true;
        if !is_id(&line.product_id) {
            errors.push(field_error(
                format!("lines[{i}].product_id"),
                "must be a product id",
            ));
            valid = false;
        }
        if line.quantity == 0 {
            errors.push(field_error(
                format!("lines[{i}].quantity"),
                "must be at least 1",
            ));
            valid = false;
        }
        if !valid {
            continue;
        }
        match merged.iter_mut().find(|m| m.product_id == line.product_id) {
            Some(existing) => match existing.quantity.checked_add(line.quantity) {
                Some(total) => existing.quantity = total,
                None => errors.push(field_error(
                    format!("lines[{i}].quantity"),
                    "total quantity for this product is too large",
                )),
            },
            None => merged.push(line.clone()),
        }
    }
    if errors.is_empty() {
        Ok(merged)
    } else {
        Err(errors)
    }
}

/// Why a reservation cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Products that do not exist or are inactive.
    Unavailable(Vec<String>),
    /// Products whose available stock is below the requested quantity.
    Short(Vec<String>),
    /// The order's reservation was released (or cancelled before it arrived): never again.
    Released,
}

impl Refusal {
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unavailable(_) => "product_unavailable",
            Refusal::Short(_) => "insufficient_stock",
            Refusal::Released => "reservation_released",
        }
    }

    pub fn products(&self) -> &[String] {
        match self {
            Refusal::Unavailable(ids) | Refusal::Short(ids) => ids,
            Refusal::Released => &[],
        }
    }
}

/// One product's change in a reservation plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub product_id: String,
    pub before: Level,
    pub after: Level,
}

/// All or nothing: the new level of every line's product, or every product that is
/// unavailable (absent from `levels`, which holds only active products) or short.
pub fn plan_reservation(
    lines: &[ReservationLine],
    levels: &BTreeMap<String, Level>,
) -> Result<Vec<Change>, Refusal> {
    let unavailable: Vec<String> = lines
        .iter()
        .filter(|l| !levels.contains_key(&l.product_id))
        .map(|l| l.product_id.clone())
        .collect();
    if !unavailable.is_empty() {
        return Err(Refusal::Unavailable(unavailable));
    }
    let mut changes = Vec::with_capacity(lines.len());
    let mut short = Vec::new();
    for line in lines {
        let before = levels[&line.product_id];
        match before.reserve(line.quantity) {
            Some(after) => changes.push(Change {
                product_id: line.product_id.clone(),
                before,
                after,
            }),
            None => short.push(line.product_id.clone()),
        }
    }
    if short.is_empty() {
        Ok(changes)
    } else {
        Err(Refusal::Short(short))
    }
}

/// What a release or commit does to a reservation in `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Apply the stock change and move to this status.
    To(ReservationStatus),
    /// Already there: nothing changes (idempotent repeat).
    Unchanged,
}

/// Releasing: reserved → released; released again changes nothing; committed is a conflict.
pub fn release_transition(status: ReservationStatus) -> Result<Transition, &'static str> {
    match status {
        ReservationStatus::Reserved => Ok(Transition::To(ReservationStatus::Released)),
        ReservationStatus::Released => Ok(Transition::Unchanged),
        ReservationStatus::Committed => Err(conflict::ALREADY_COMMITTED),
    }
}

/// Committing: reserved → committed; committed again changes nothing; released is a conflict.
pub fn commit_transition(status: ReservationStatus) -> Result<Transition, &'static str> {
    match status {
        ReservationStatus::Reserved => Ok(Transition::To(ReservationStatus::Committed)),
        ReservationStatus::Committed => Ok(Transition::Unchanged),
        ReservationStatus::Released => Err(conflict::ALREADY_RELEASED),
    }
}

/// The stock changes of moving a reservation's `lines` to `to` (released or committed), or the
/// first product whose stock does not hold the reserved units (inconsistent data).
pub fn settle(
    lines: &[ReservationLine],
    levels: &BTreeMap<String, Level>,
    to: ReservationStatus,
) -> Result<Vec<Change>, String> {
    lines
        .iter()
        .map(|line| {
            let before = *levels
                .get(&line.product_id)
                .ok_or_else(|| line.product_id.clone())?;
            let after = match to {
                ReservationStatus::Released => before.release(line.quantity),
                ReservationStatus::Committed => before.commit(line.quantity),
                ReservationStatus::Reserved => before.reserve(line.quantity),
            }
            .ok_or_else(|| line.product_id.clone())?;
            Ok(Change {
                product_id: line.product_id.clone(),
                before,
                after,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields;
    use crate::domain::stock::level;
    use wasmshop_kit::ids::new_id;

    fn line(product_id: &str, quantity: u32) -> ReservationLine {
        ReservationLine {
            product_id: product_id.into(),
            quantity,
        }
    }

    #[test]
    fn duplicate_lines_are_merged_in_first_position() {
        let (a, b) = (new_id(), new_id());
        let merged = validate_reservation(&new_id(), &[line(&a, 2), line(&b, 1), line(&a, 3)])
            .expect("valid");
        assert_eq!(merged, vec![line(&a, 5), line(&b, 1)]);
    }

    #[test]
    fn reservation_input_errors_name_each_line() {
        let a = new_id();
        let errors =
            validate_reservation("order-1", &[line(&a, 0), line("p", 1)]).expect_err("invalid");
        assert_eq!(
            fields(&errors),
            vec!["order_id", "lines[0].quantity", "lines[1].product_id"]
        );
        assert_eq!(
            fields(&validate_reservation(&new_id(), &[]).expect_err("empty")),
            vec!["lines"]
        );
        let too_many: Vec<_> = (0..=MAX_RESERVATION_LINES).map(|_| line(&a, 1)).collect();
        assert_eq!(
            fields(&validate_reservation(&new_id(), &too_many).expect_err("too many")),
            vec!["lines"]
        );
        let overflow = validate_reservation(&new_id(), &[line(&a, u32::MAX), line(&a, 1)])
            .expect_err("overflow");
        assert_eq!(fields(&overflow), vec!["lines[1].quantity"]);
    }

    #[test]
    fn reservation_plan_is_all_or_nothing() {
        let (a, b, c) = (new_id(), new_id(), new_id());
        let levels = BTreeMap::from([
            (a.clone(), level(10, 0)),
            (b.clone(), level(3, 1)),
            (c.clone(), level(0, 0)),
        ]);
        let plan = plan_reservation(&[line(&a, 4), line(&b, 2)], &levels).expect("enough");
        assert_eq!(plan.len(), 2);
        assert_eq!(plan[0].after, level(10, 4));
        assert_eq!(plan[1].after, level(3, 3));
        assert_eq!(
            plan_reservation(&[line(&a, 4), line(&b, 3), line(&c, 1)], &levels),
            Err(Refusal::Short(vec![b.clone(), c.clone()])),
            "one short line refuses the whole request and names every short product"
        );
        let unknown = new_id();
        let refusal =
            plan_reservation(&[line(&a, 1), line(&unknown, 1)], &levels).expect_err("unknown");
        assert_eq!(refusal, Refusal::Unavailable(vec![unknown]));
        assert_eq!(refusal.reason(), "product_unavailable");
    }

    #[test]
    fn thirty_units_serve_exactly_thirty_single_reservations() {
        let p = new_id();
        let mut levels = BTreeMap::from([(p.clone(), level(30, 0))]);
        let mut granted = 0;
        for _ in 0..100 {
            match plan_reservation(&[line(&p, 1)], &levels) {
                Ok(changes) => {
                    levels.insert(p.clone(), changes[0].after);
                    granted += 1;
                }
                Err(refusal) => assert_eq!(refusal, Refusal::Short(vec![p.clone()])),
            }
        }
        assert_eq!(granted, 30);
        assert_eq!(levels[&p], level(30, 30));
        assert_eq!(levels[&p].available(), 0);
    }

    #[test]
    fn release_and_commit_are_idempotent_and_exclusive() {
        use ReservationStatus::*;
        assert_eq!(release_transition(Reserved), Ok(Transition::To(Released)));
        assert_eq!(release_transition(Released), Ok(Transition::Unchanged));
        assert_eq!(
            release_transition(Committed),
            Err(conflict::ALREADY_COMMITTED)
        );
        assert_eq!(commit_transition(Reserved), Ok(Transition::To(Committed)));
        assert_eq!(commit_transition(Committed), Ok(Transition::Unchanged));
        assert_eq!(commit_transition(Released), Err(conflict::ALREADY_RELEASED));
    }

    #[test]
    fn settling_moves_reserved_units() {
        let (a, b) = (new_id(), new_id());
        let levels = BTreeMap::from([(a.clone(), level(10, 4)), (b.clone(), level(5, 5))]);
        let lines = [line(&a, 3), line(&b, 5)];
        let released = settle(&lines, &levels, ReservationStatus::Released).expect("held");
        assert_eq!(released[0].after, level(10, 1));
        assert_eq!(released[1].after, level(5, 0));
        let committed = settle(&lines, &levels, ReservationStatus::Committed).expect("held");
        assert_eq!(committed[0].after, level(7, 1));
        assert_eq!(committed[1].after, level(0, 0));
        assert_eq!(
            settle(&[line(&a, 5)], &levels, ReservationStatus::Released),
            Err(a.clone()),
            "more than is reserved: inconsistent"
        );
    }
}
