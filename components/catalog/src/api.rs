//! The exported `wasmshop:catalog/api`: the same use cases as HTTP, for direct component calls.
//! Its callers are trusted components (orders), so `get-product` also returns inactive products
//! (with `active: false`) and no identity is checked.

use crate::Component;
use crate::bindings::exports::wasmshop::catalog::api::Guest;
use crate::bindings::wasmshop::catalog::types::{
    Category, CategoryInput, Error, Product, ProductInput, ProductPage, ProductQuery, Reservation,
    ReservationLine, Stock, StockInput,
};
use crate::service;

impl Guest for Component {
    fn list_products(query: ProductQuery) -> Result<ProductPage, Error> {
        service::list_products(&query)
    }

    fn get_product(id: String) -> Result<Product, Error> {
        service::get_product(&id, true)
    }

    fn create_product(input: ProductInput) -> Result<Product, Error> {
        service::create_product(&input)
    }

    fn update_product(id: String, input: ProductInput) -> Result<Product, Error> {
        service::update_product(&id, &input)
    }

    fn delete_product(id: String) -> Result<(), Error> {
        service::delete_product(&id)
    }

    fn list_categories() -> Result<Vec<Category>, Error> {
        service::list_categories()
    }

    fn create_category(input: CategoryInput) -> Result<Category, Error> {
        service::create_category(&input)
    }

    fn get_stock(product_id: String) -> Result<Stock, Error> {
        service::get_stock(&product_id)
    }

    fn set_stock(product_id: String, input: StockInput) -> Result<Stock, Error> {
        service::set_stock(&product_id, &input)
    }

    fn reserve(order_id: String, lines: Vec<ReservationLine>) -> Result<Reservation, Error> {
        service::reserve(&order_id, &lines).map(|(reservation, _)| reservation)
    }

    fn release(order_id: String) -> Result<Reservation, Error> {
        service::release(&order_id)
    }

    fn commit(order_id: String) -> Result<Reservation, Error> {
        service::commit(&order_id)
    }
}
