//! The exported `wasmshop:orders/api`: the customer's use cases of HTTP, for direct component
//! calls by trusted components that name the user they act for (no admin views here).

use wasmshop_kit::http::Page;
use wasmshop_kit::identity::Identity;

use crate::bindings::exports::wasmshop::orders::api::Guest;
use crate::bindings::wasmshop::orders::types::{
    Cart, CheckoutRequest, Error, LineInput, Order, OrderAccepted, OrderPage,
};
use crate::{Component, service};

fn customer(user_id: &str) -> Result<Identity, Error> {
    Identity::acting_for(Some(user_id)).map_err(|e| Error::InvalidInput(e.field_errors()))
}

impl Guest for Component {
    fn get_cart(user_id: String) -> Result<Cart, Error> {
        service::cart(&customer(&user_id)?)
    }

    fn add_to_cart(user_id: String, line: LineInput) -> Result<Cart, Error> {
        service::add_to_cart(&customer(&user_id)?, &line)
    }

    fn set_quantity(user_id: String, product_id: String, quantity: u32) -> Result<Cart, Error> {
        service::set_quantity(&customer(&user_id)?, &product_id, quantity)
    }

    fn remove_item(user_id: String, product_id: String) -> Result<Cart, Error> {
        service::remove_from_cart(&customer(&user_id)?, &product_id)
    }

    fn clear_cart(user_id: String) -> Result<Cart, Error> {
        service::clear_cart(&customer(&user_id)?)
    }

    fn checkout(
        user_id: String,
        idempotency_key: String,
        request: CheckoutRequest,
    ) -> Result<OrderAccepted, Error> {
        service::checkout(&customer(&user_id)?, &idempotency_key, &request)
    }

    fn list_orders(user_id: String, page: u32, limit: u32) -> Result<OrderPage, Error> {
        let identity = customer(&user_id)?;
        let page = Page::new(page, limit).map_err(Error::InvalidInput)?;
        service::list(&identity, false, page)
    }

    fn get_order(user_id: String, id: String) -> Result<Order, Error> {
        service::get(&customer(&user_id)?, &id)
    }

    fn cancel_order(user_id: String, id: String) -> Result<OrderAccepted, Error> {
        service::cancel(&customer(&user_id)?, &id)
    }
}
