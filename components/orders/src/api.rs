//! The exported `wasmshop:orders/api`: the customer's use cases of HTTP, for direct component
//! calls by trusted components that name the user they act for (no admin views here).

use wasmshop_kit::error::ApiError;
use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;
use wasmshop_kit::json::reshape;

use crate::Component;
use crate::bindings::exports::wasmshop::orders::api::Guest;
use crate::bindings::wasmshop::orders::types::{
    Cart, CheckoutRequest, Error, LineInput, Order, OrderAccepted, OrderPage, OrderStatus,
};
use crate::{domain, service};

fn error(e: ApiError) -> Error {
    match e.code {
        "invalid_input" => Error::InvalidInput(e.field_errors()),
        // The WIT has no variant of its own for it; it is the lines' fault, not the service's.
        "amount_out_of_range" => Error::InvalidInput(vec![wasmshop_kit::FieldError {
            field: "lines".into(),
            message: e.message,
        }]),
        "not_found" => Error::NotFound,
        "empty_cart" => Error::EmptyCart,
        "idempotency_key_required" => Error::IdempotencyKeyRequired,
        "idempotency_key_reused" => Error::IdempotencyKeyReused,
        "order_not_cancellable" => {
            match e.details["status"].as_str().and_then(OrderStatus::parse) {
                Some(status) => Error::OrderNotCancellable(status),
                None => Error::Internal(e.message),
            }
        }
        "bad_gateway" | "service_unavailable" => Error::Unavailable(e.message),
        _ => Error::Internal(e.message),
    }
}

fn customer(user_id: &str) -> Result<Identity, Error> {
    Identity::acting_for(Some(user_id)).map_err(error)
}

fn accepted(id: String, status: &str) -> Result<OrderAccepted, Error> {
    let status = OrderStatus::parse(status)
        .ok_or_else(|| Error::Internal(format!("unknown order status {status}")))?;
    Ok(OrderAccepted { id, status })
}

impl Guest for Component {
    fn get_cart(user_id: String) -> Result<Cart, Error> {
        reshape(&service::cart(&customer(&user_id)?).map_err(error)?).map_err(error)
    }

    fn add_to_cart(user_id: String, line: LineInput) -> Result<Cart, Error> {
        let line = domain::LineInput {
            product_id: line.product_id,
            quantity: line.quantity,
        };
        reshape(&service::add_to_cart(&customer(&user_id)?, &line).map_err(error)?).map_err(error)
    }

    fn set_quantity(user_id: String, product_id: String, quantity: u32) -> Result<Cart, Error> {
        let cart = service::set_quantity(&customer(&user_id)?, &product_id, quantity);
        reshape(&cart.map_err(error)?).map_err(error)
    }

    fn remove_item(user_id: String, product_id: String) -> Result<Cart, Error> {
        let cart = service::remove_from_cart(&customer(&user_id)?, &product_id);
        reshape(&cart.map_err(error)?).map_err(error)
    }

    fn clear_cart(user_id: String) -> Result<Cart, Error> {
        reshape(&service::clear_cart(&customer(&user_id)?).map_err(error)?).map_err(error)
    }

    fn checkout(
        user_id: String,
        idempotency_key: String,
        request: CheckoutRequest,
    ) -> Result<OrderAccepted, Error> {
        let identity = customer(&user_id)?;
        let key = domain::validate_idempotency_key(Some(&idempotency_key))
            .map_err(|_| Error::IdempotencyKeyRequired)?;
        let request: domain::CheckoutRequest = reshape(&request).map_err(error)?;
        let (id, status) = service::checkout(&identity, &key, &request).map_err(error)?;
        accepted(id, &status)
    }

    fn list_orders(user_id: String, page: u32, limit: u32) -> Result<OrderPage, Error> {
        let identity = customer(&user_id)?;
        let page = Page::new(page, limit).map_err(Error::InvalidInput)?;
        reshape(&service::list(&identity, false, page).map_err(error)?).map_err(error)
    }

    fn get_order(user_id: String, id: String) -> Result<Order, Error> {
        reshape(&service::get(&customer(&user_id)?, &id).map_err(error)?).map_err(error)
    }

    fn cancel_order(user_id: String, id: String) -> Result<OrderAccepted, Error> {
        let order = service::cancel(&customer(&user_id)?, &id).map_err(error)?;
        accepted(order.id, &order.status)
    }
}
